/**
 * containerd's deprecated CRI mirror format (`registry.mirrors."<host>".endpoint` in config.toml) on a real
 * containerd 1.6 node (node7, lab variant `legacy-mirrors`):
 * - the legacy config is pointed at the lab mirrors by hand and shown to work (so "migrated" has a meaning);
 * - `config_path` added by hand next to those mirrors makes the CRI plugin fail to load (containerd still runs):
 *   the reason the core library refuses such a file;
 * - `renderNodeConfig` with the default legacy mode throws RegistryMirrorsError for the live file;
 * - `legacy: "migrate"` installed over SSH: config.toml loads, and pulls go through the migrated legacy mirrors and
 *   through our own mirror, with the upstream down.
 */
import { parse } from "smol-toml";
import { RegistryMirrorsError, type Mirror } from "../../src";
import { startLab, type Lab, type PushedImage } from "../lab";
import { PATHS, install, planFor, readNode, timing } from "./support/install";
import { expectPullFails, expectServedOnlyBy, mark, withUpstreamDown } from "./support/proof";

/** A parsed TOML document, walked by key in assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- assertions walk it freely
type TomlDoc = any;

jest.setTimeout(300_000);

const NODE = "node7";
const CRI = 'plugins."io.containerd.grpc.v1.cri"';

let lab: Lab;
/** The hand-written legacy config (mirrors pointed at the lab mirrors), as installed in the first test. */
let legacyConfig: string;

beforeAll(async () => {
  const started = Date.now();
  lab = await startLab({
    nodes: [{ name: NODE, runtime: "containerd", config: "legacy-mirrors" }],
    waitForOtherLabMs: 900_000,
    log: (s) => console.log(s),
  });
  timing(`lab start (1 node; lab-reported start-up ${lab.describe().startupMs} ms)`, Date.now() - started);
}, 1_200_000);

afterAll(async () => {
  if (!lab) return;
  await lab.upstreamUp().catch(() => undefined);
  const report = await lab.stop();
  expect(report.survivors).toEqual([]);
});

const repoDigest = (img: PushedImage): string => `${img.registry}/${img.repo}@${img.digest}`;

/** Writes config.toml by hand over SSH (temp file + rename, as an operator would) and restarts containerd. */
async function writeConfigAndRestart(content: string): Promise<void> {
  await lab.execOk(NODE, "cat > /etc/containerd/config.toml.new && mv /etc/containerd/config.toml.new /etc/containerd/config.toml", {
    input: content,
  });
  const started = Date.now();
  await lab.execOk(NODE, "systemctl restart containerd", { timeoutMs: 90_000 });
  timing(`${NODE} hand-made restart`, Date.now() - started);
}

/** docker.io → the plain mirror; gcr.io → the namespaced mirror (a path, served as-is by the legacy format). */
function legacyEndpoints(): { docker: string; gcr: string } {
  return { docker: lab.registry("mirror").url, gcr: lab.registry("ns-mirror").url };
}

/** Our own mirror for the migrate case: quay.io through the HTTPS mirror with its CA and credentials, no fallback. */
function ours(): Mirror[] {
  const am = lab.registry("auth-mirror");
  return [
    {
      upstream: "quay.io",
      endpoints: [{ url: am.url, caCert: am.caPem!, auth: { username: am.username!, password: am.password! } }],
      fallback: false,
    },
  ];
}

async function pullDockerAndGcr(label: string): Promise<void> {
  const docker = await lab.pushImage(`library/legacy-${label}`);
  const gcr = await lab.pushImage(`lab/legacy-${label}`, undefined, { registry: "gcr.io" });
  const marks = mark(lab);
  await withUpstreamDown(lab, async () => {
    expect((await lab.criPull(NODE, docker.ref)).repoDigest).toBe(repoDigest(docker));
    expect((await lab.criPull(NODE, gcr.ref)).repoDigest).toBe(repoDigest(gcr));
  });
  expectServedOnlyBy(lab, docker, marks, "mirror", { ns: "docker.io" });
  const ns = expectServedOnlyBy(lab, gcr, marks, "ns-mirror", { ns: "gcr.io" });
  expect(ns.every((r) => r.path.startsWith(`${lab.registry("ns-mirror").pathPrefix}/${gcr.repo}/`))).toBe(true);
}

test("control: the legacy config (registry.mirrors, no config_path) loads, and pointed at the lab mirrors by hand it pulls through them", async () => {
  const original = lab.readNodeFile(NODE, PATHS.containerdConfig);
  expect(original).toContain(`[${CRI}.registry.mirrors."docker.io"]`);
  expect(original).not.toContain("config_path");
  expect(await lab.criLoaded(NODE)).toBe(true);

  const { docker, gcr } = legacyEndpoints();
  legacyConfig = original.replace(
    `          endpoint = ["https://registry-1.docker.io"]\n`,
    `          endpoint = ["${docker}"]\n        [${CRI}.registry.mirrors."gcr.io"]\n          endpoint = ["${gcr}"]\n`,
  );
  expect(legacyConfig).not.toBe(original);
  await writeConfigAndRestart(legacyConfig);
  expect(await lab.runtimeState(NODE)).toBe("active");
  expect(await lab.criLoaded(NODE)).toBe(true);
  await pullDockerAndGcr("before");
});

test("legacy mirrors next to config_path (added by hand): containerd 1.6 runs but its CRI plugin fails to load", async () => {
  const header = `    [${CRI}.registry]\n`;
  expect(legacyConfig).toContain(header);
  const broken = legacyConfig.replace(header, `${header}      config_path = "${PATHS.hostsDir}"\n`);
  // Valid TOML, and exactly one semantic change: config_path.
  const reg = (parse(broken) as TomlDoc).plugins["io.containerd.grpc.v1.cri"].registry;
  expect(reg.config_path).toBe(PATHS.hostsDir);
  expect(Object.keys(reg.mirrors)).toEqual(["docker.io", "gcr.io"]);

  await writeConfigAndRestart(broken);
  expect(await lab.runtimeState(NODE)).toBe("active");
  expect(await lab.criLoaded(NODE)).toBe(false);
  const cri = (await lab.plugins(NODE)).filter((p) => p.id === "cri");
  console.log(`[info] ${NODE} ctr plugins ls (cri): ${JSON.stringify(cri)}`);
  const journal = lab.journal(NODE, 200);
  const reason = journal.split("\n").filter((l) => /cannot be set when config_path is provided|invalid plugin config/.test(l));
  console.log(`[info] ${NODE} containerd log:\n${reason.join("\n")}`);
  expect(reason.join("\n")).toMatch(/`mirrors` cannot be set when `config_path` is provided/);
  // Without CRI, kubelet (here crictl) cannot pull at all.
  const img = await lab.pushImage("library/legacy-broken");
  const error = await expectPullFails(lab.criPull(NODE, img.ref, { timeoutMs: 60_000 }));
  expect(error).toMatch(/unknown service runtime\.v1\.ImageService/);

  // The core library refuses this file too (it still has legacy mirrors).
  const { state } = await readNode(lab, NODE);
  expect(state.mainConfig?.content).toBe(broken);
  expect(() => planFor(state, ours())).toThrow(RegistryMirrorsError);

  // Back to the working legacy config.
  await writeConfigAndRestart(legacyConfig);
  expect(await lab.criLoaded(NODE)).toBe(true);
});

test("renderNodeConfig with the default legacy mode refuses the live legacy config (nothing is applied)", async () => {
  const { state } = await readNode(lab, NODE);
  expect(state.mainConfig?.content).toBe(legacyConfig);
  let error: unknown;
  try {
    planFor(state, ours());
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(RegistryMirrorsError);
  const problems = (error as RegistryMirrorsError).problems;
  console.log(`[info] refusal:\n${(error as Error).message}`);
  expect(problems).toHaveLength(1);
  expect(problems[0].path).toBe("legacy");
  expect(problems[0].message).toContain(`mirrors."docker.io"`);
  expect(problems[0].message).toContain(`mirrors."gcr.io"`);
  expect(problems[0].message).toContain('legacy: "migrate"');
  expect(problems[0].message).toContain('legacy: "write"');
  // Explicit "refuse" is the same.
  expect(() => planFor(state, ours(), "refuse")).toThrow(RegistryMirrorsError);
  expect(lab.readNodeFile(NODE, PATHS.containerdConfig)).toBe(legacyConfig);
  expect(lab.nodeFileExists(NODE, PATHS.hostsDir)).toBe(false);
});

test('legacy: "migrate" installed over SSH: CRI loads, pulls go through the migrated legacy mirrors and our mirror', async () => {
  const restarts = lab.restartCount(NODE);
  const { plan, report } = await install(lab, NODE, ours(), { legacy: "migrate", label: "migrate" });
  expect(plan.action).toBe("restart");
  expect(report.action).toBe("restart");
  expect(lab.restartCount(NODE)).toBe(restarts + 1);
  const hosts = (dir: string) => `${PATHS.hostsDir}/${dir}/hosts.toml`;
  expect(plan.files.map((f) => f.path)).toEqual(expect.arrayContaining([hosts("docker.io"), hosts("gcr.io"), hosts("quay.io")]));

  // config.toml: the legacy mirrors are gone, config_path is set, everything else is as it was.
  const after = lab.readNodeFile(NODE, PATHS.containerdConfig);
  expect(after).toBe(plan.mainConfig!.content);
  const before = parse(legacyConfig) as TomlDoc;
  const expected = structuredClone(before);
  delete expected.plugins["io.containerd.grpc.v1.cri"].registry.mirrors;
  expected.plugins["io.containerd.grpc.v1.cri"].registry.config_path = PATHS.hostsDir;
  expect(parse(after)).toEqual(expected);

  // The migrated hosts.toml keep the legacy semantics: mirror first, upstream last; a path is the API root.
  const { docker, gcr } = legacyEndpoints();
  const dockerToml = parse(lab.readNodeFile(NODE, hosts("docker.io"))) as TomlDoc;
  expect(dockerToml.server).toBe("https://registry-1.docker.io");
  expect(Object.keys(dockerToml.host)).toEqual([docker]);
  const gcrToml = parse(lab.readNodeFile(NODE, hosts("gcr.io"))) as TomlDoc;
  expect(gcrToml.server).toBe("https://gcr.io");
  expect(gcrToml.host[gcr]).toMatchObject({ override_path: true });

  expect(await lab.runtimeState(NODE)).toBe("active");
  expect(await lab.criLoaded(NODE)).toBe(true);

  // Through the migrated legacy mirrors…
  await pullDockerAndGcr("migrated");
  // …and through our mirror (credentials from our hosts.toml header, CA beside it).
  const am = lab.registry("auth-mirror");
  const quay = await lab.pushImage("lab/legacy-ours", undefined, { registry: "quay.io" });
  const marks = mark(lab);
  expect((await withUpstreamDown(lab, () => lab.criPull(NODE, quay.ref))).repoDigest).toBe(repoDigest(quay));
  expectServedOnlyBy(lab, quay, marks, "auth-mirror", { ns: "quay.io", user: am.username! });

  // A second run (migrate again, or the default mode now that config.toml has no legacy entries) changes nothing
  // and keeps the migrated files (read back from the node as owned files).
  for (const legacy of ["migrate", undefined] as const) {
    const again = await install(lab, NODE, ours(), { legacy, label: `re-run (${legacy ?? "default"})` });
    expect(again.plan.mainConfig).toBeUndefined();
    expect(again.plan.files.map((f) => f.path)).toEqual(plan.files.map((f) => f.path));
    expect(again.report.written).toEqual([]);
    expect(again.report.removed).toEqual([]);
    expect(again.report.action).toBe("none");
  }
  expect(lab.restartCount(NODE)).toBe(restarts + 1);
  expect(await lab.criLoaded(NODE)).toBe(true);
});
