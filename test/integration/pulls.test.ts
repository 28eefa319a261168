/**
 * Mirror configurations rendered by the core library, installed on real lab nodes over plain SSH (agent read →
 * renderNodeConfig with the live config.toml → agent apply), and proven by real pulls: each pull uses a fresh image
 * pushed to the upstream, and the registry fronts' access logs show which one served it and that nothing else saw it.
 *
 * Nodes (default lab mix): node1 containerd 1.6 (config v2), node2 containerd 2.x (config v3), node3 CRI-O-style
 * (skopeo reads registries.conf.d), node4 1.6 as `lab` with NOPASSWD sudo, node5 1.6 as `lab` with password sudo,
 * node6 1.6 without a config_path line, node9 1.6 with a minimal config.toml. (node7/node8 are started but unused;
 * the legacy node is exercised in legacy.test.ts.)
 */
import { parse } from "smol-toml";
import { renderNodeConfig, type Mirror } from "../../src";
import { parseApplyOutput, readCommand, removeCommand } from "../../src/node/protocol";
import { sha256 } from "../../src/node/shell";
import { startLab, type Lab, type PushedImage } from "../lab";
import { PATHS, install, readNode, runApply, timing } from "./support/install";
import { closedPort, expectPullFails, expectServedOnlyBy, manifestRequests, mark, seenSince, show, withUpstreamDown } from "./support/proof";

jest.setTimeout(300_000);

let lab: Lab;
/** What the containerd nodes looked like before any apply (for the removal checks). */
const originals: Record<string, { config: string; hostsDirExisted: boolean }> = {};
const CONTAINERD_NODES = ["node1", "node2", "node4", "node6", "node9"];

beforeAll(async () => {
  const started = Date.now();
  // Only one lab per machine: wait (bounded) for one another engineer's run may hold.
  lab = await startLab({ nodes: 9, waitForOtherLabMs: 900_000, log: (s) => console.log(s) });
  timing(`lab start (9 nodes; lab-reported start-up ${lab.describe().startupMs} ms)`, Date.now() - started);
  for (const name of CONTAINERD_NODES) {
    originals[name] = { config: lab.readNodeFile(name, PATHS.containerdConfig), hostsDirExisted: lab.nodeFileExists(name, PATHS.hostsDir) };
  }
}, 1_200_000);

afterAll(async () => {
  if (!lab) return;
  await lab.upstreamUp().catch(() => undefined);
  const started = Date.now();
  const report = await lab.stop();
  timing("lab stop", Date.now() - started);
  expect(report.survivors).toEqual([]);
});

const url = (name: "mirror" | "auth-mirror" | "ns-mirror"): string => lab.registry(name).url;
const dockerHub = (extra: Partial<Mirror> = {}): Mirror => ({ upstream: "docker.io", endpoints: [{ url: url("mirror") }], ...extra });
const hostsToml = (dir: string): string => `${PATHS.hostsDir}/${dir}/hosts.toml`;
const repoDigest = (img: PushedImage): string => `${img.registry}/${img.repo}@${img.digest}`;

/** The CRI registry table of a parsed config.toml (v2 or v3 schema). */
function registryTable(doc: Record<string, unknown>): Record<string, unknown> | undefined {
  const plugins = (doc.plugins ?? {}) as Record<string, Record<string, unknown>>;
  const plugin = doc.version === 3 ? plugins["io.containerd.cri.v1.images"] : plugins["io.containerd.grpc.v1.cri"];
  return plugin?.registry as Record<string, unknown> | undefined;
}

/** `doc` with `config_path` set in its CRI registry table (tables created as needed). */
function withConfigPath(doc: Record<string, unknown>, value: string): Record<string, unknown> {
  const out = structuredClone(doc);
  const keys = ["plugins", out.version === 3 ? "io.containerd.cri.v1.images" : "io.containerd.grpc.v1.cri", "registry"];
  let t = out;
  for (const k of keys) t = (t[k] ??= {}) as Record<string, unknown>;
  t.config_path = value;
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// First apply on each containerd node: the config.toml edit. Runs first so it is the first apply on node1/node2.

describe("config.toml edit keeps containerd starting cleanly on both versions", () => {
  test.each([
    ["node1", 'containerd 1.6, default config v2 with config_path = ""'],
    ["node2", "containerd 2.x, default config v3 with config_path = ''"],
    ["node6", "containerd 1.6, registry table without a config_path line"],
    ["node9", "containerd 1.6, minimal config.toml (only version = 2)"],
    ["node4", "containerd 1.6, login as `lab` with NOPASSWD sudo"],
  ])("%s (%s): config_path set, CRI loads, unit active, hosts.toml honoured, a re-run changes nothing", async (name) => {
    const node = lab.node(name);
    const liveBefore = lab.readNodeFile(name, PATHS.containerdConfig);
    const restarts = lab.restartCount(name);

    const { state, plan, report } = await install(lab, name, [dockerHub()], { label: "first" });
    expect(state.runtime.kind).toBe("containerd");
    expect(state.mainConfig?.content).toBe(liveBefore);
    expect(plan.mainConfig).toBeDefined();
    expect(plan.action).toBe("restart");
    expect(report.action).toBe("restart");
    expect(lab.restartCount(name)).toBe(restarts + 1);

    // On disk: exactly the rendered text; semantically the live file plus config_path, nothing else changed.
    const liveAfter = lab.readNodeFile(name, PATHS.containerdConfig);
    expect(liveAfter).toBe(plan.mainConfig!.content);
    expect(parse(liveAfter)).toEqual(withConfigPath(parse(liveBefore) as Record<string, unknown>, PATHS.hostsDir));
    expect(registryTable(parse(liveAfter) as Record<string, unknown>)?.config_path).toBe(PATHS.hostsDir);
    if (node.runtime === "containerd2") expect(parse(liveAfter).version).toBe(3);
    else expect(parse(liveAfter).version).toBe(2);

    // containerd came back with its CRI plugins loaded.
    expect(await lab.runtimeState(name)).toBe("active");
    expect(await lab.criLoaded(name)).toBe(true);
    expect(lab.journal(name, 400)).not.toMatch(/invalid plugin config|invalid cri image config|mirrors.*cannot be set/);
    if (node.user === "lab") {
      // The restart went through sudo: the lab's systemctl saw uid 0.
      expect(
        lab
          .systemctlCalls(name)
          .filter((c) => c.verb === "restart")
          .map((c) => c.uid),
      ).toEqual(
        lab
          .systemctlCalls(name)
          .filter((c) => c.verb === "restart")
          .map(() => 0),
      );
    }

    // config_path is really in effect: with the upstream down, only the mirror can serve a pull.
    const img = await lab.pushImage("library/cfg-edit");
    const marks = mark(lab);
    const pulled = await withUpstreamDown(lab, () => lab.criPull(name, img.ref));
    expect(pulled.repoDigest).toBe(repoDigest(img));
    expectServedOnlyBy(lab, img, marks, "mirror", { ns: "docker.io" });

    // Rendering again from the node's new config.toml gives no change, and applying it restarts nothing.
    const again = await install(lab, name, [dockerHub()], { label: "re-run" });
    expect(again.plan.mainConfig).toBeUndefined();
    expect(again.plan.action).toBe("none");
    expect(again.report.written).toEqual([]);
    expect(again.report.action).toBe("none");
    expect(lab.restartCount(name)).toBe(restarts + 1);
    expect(lab.readNodeFile(name, PATHS.containerdConfig)).toBe(liveAfter);
  });

  test("node5 (sudo wants a password): read and apply stop at once with exit 10 and the agent's message, nothing written", async () => {
    const name = "node5";
    const node = lab.node(name);
    expect(node).toMatchObject({ user: "lab", sudo: "password" });
    const liveBefore = lab.readNodeFile(name, PATHS.containerdConfig);
    const message =
      /registry-mirrors: node node5: step sudo: user "lab" cannot run sudo without a password \(sudo -n failed\); allow NOPASSWD sudo for this user or connect as root/;

    let started = Date.now();
    await expect(readNode(lab, name)).rejects.toThrow(message);
    const readMs = Date.now() - started;
    timing("node5 read refused (sudo needs a password)", readMs);
    // The exit code itself, from the raw SSH command.
    const raw = await lab.exec(name, readCommand({ node: name }, PATHS), { timeoutMs: 30_000 });
    expect({ code: raw.code, timedOut: raw.timedOut }).toEqual({ code: 10, timedOut: false });
    expect(raw.stderr).toMatch(message);

    // An apply built from the config as the lab sees it fails the same way, before touching anything.
    const plan = renderNodeConfig({
      mirrors: [dockerHub()],
      runtime: { kind: "containerd", version: "1.6.20" },
      liveConfig: liveBefore,
      paths: PATHS,
    });
    expect(plan.mainConfig).toBeDefined();
    const state = {
      runtime: { kind: "containerd" as const, version: "1.6.20" },
      versionLine: "",
      mainConfig: { path: PATHS.containerdConfig, sha256: sha256(liveBefore), content: liveBefore },
      manifest: [],
      ownedFiles: {},
      owned: [],
    };
    started = Date.now();
    const { exec, ms } = await runApply(lab, name, state, plan);
    timing("node5 apply refused (sudo needs a password)", ms);
    expect({ code: exec.code, timedOut: exec.timedOut }).toEqual({ code: 10, timedOut: false });
    expect(exec.stderr).toMatch(message);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(readMs).toBeLessThan(15_000);
    expect(lab.readNodeFile(name, PATHS.containerdConfig)).toBe(liveBefore);
    expect(lab.nodeFileExists(name, hostsToml("docker.io"))).toBe(false);
    expect(lab.systemctlCalls(name).filter((c) => c.verb !== "is-active")).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// containerd 1.6 (v2) and 2.x (v3) over CRI.

describe.each([
  ["node1", "containerd 1.6, config v2"],
  ["node2", "containerd 2.x, config v3"],
])("%s (%s) over CRI", (name) => {
  test("fallback on, upstream up: the mirror is asked first and serves the pull; the upstream never sees it", async () => {
    const { plan } = await install(lab, name, [dockerHub()], { label: "fallback-on" });
    const file = plan.files.find((f) => f.path === hostsToml("docker.io"))!;
    expect(lab.readNodeFile(name, file.path)).toBe(file.content);
    expect(parse(file.content)).toMatchObject({
      server: "https://registry-1.docker.io",
      host: { [url("mirror")]: { capabilities: ["pull", "resolve"] } },
    });

    const img = await lab.pushImage("library/fallback-on");
    expect(await lab.upstreamIsUp()).toBe(true);
    const marks = mark(lab);
    expect((await lab.criPull(name, img.ref)).repoDigest).toBe(repoDigest(img));
    const reqs = expectServedOnlyBy(lab, img, marks, "mirror", { ns: "docker.io" });
    expect(reqs.every((r) => r.userAgent.startsWith("containerd/"))).toBe(true);
  });

  test("fallback off, upstream down: the pull succeeds from the mirror alone; the upstream is untouched", async () => {
    const { plan } = await install(lab, name, [dockerHub({ fallback: false })], { label: "fallback-off" });
    const doc = parse(plan.files.find((f) => f.path === hostsToml("docker.io"))!.content);
    expect(doc.server).toBe(url("mirror"));
    expect(JSON.stringify(doc)).not.toContain("registry-1.docker.io");

    const img = await lab.pushImage("library/fallback-off");
    const marks = mark(lab);
    const pulled = await withUpstreamDown(lab, () => lab.criPull(name, img.ref));
    expect(pulled.repoDigest).toBe(repoDigest(img));
    expectServedOnlyBy(lab, img, marks, "mirror", { ns: "docker.io" });
  });

  test("fallback off, mirror unreachable, upstream UP: the pull fails and the upstream is never contacted", async () => {
    const dead = `http://127.0.0.1:${await closedPort()}`;
    await install(lab, name, [{ upstream: "docker.io", endpoints: [{ url: dead }], fallback: false }], { label: "fallback-off-dead-mirror" });
    const img = await lab.pushImage("library/fallback-off-dead");
    const marks = mark(lab);
    expect(await lab.upstreamIsUp()).toBe(true);
    const error = await expectPullFails(lab.criPull(name, img.ref, { timeoutMs: 60_000 }));
    expect(error).toMatch(/connection refused|dial tcp 127\.0\.0\.1/);
    const seen = seenSince(lab, img, marks);
    expect(Object.values(seen).flat()).toEqual([]);
  });

  test("fallback on, mirror unreachable (closed port): the pull falls back to the upstream and succeeds", async () => {
    const dead = `http://127.0.0.1:${await closedPort()}`;
    await install(lab, name, [{ upstream: "docker.io", endpoints: [{ url: dead }] }], { label: "fallback-on-dead-mirror" });
    const img = await lab.pushImage("library/fallback-on-dead");
    const marks = mark(lab);
    expect((await lab.criPull(name, img.ref)).repoDigest).toBe(repoDigest(img));
    const reqs = expectServedOnlyBy(lab, img, marks, "upstream");
    // The upstream itself, reached under its own name, without a mirror's ns parameter.
    expect(
      manifestRequests(reqs, img).every((r) => r.host === "registry-1.docker.io" && r.sni === "registry-1.docker.io" && r.params.ns === undefined),
    ).toBe(true);
  });

  test("HTTPS mirror with a private CA and basic auth: credentials come from the rendered hosts.toml header", async () => {
    const am = lab.registry("auth-mirror");
    const withAuth: Mirror = {
      upstream: "docker.io",
      endpoints: [{ url: am.url, caCert: am.caPem!, auth: { username: am.username!, password: am.password! } }],
    };
    const withoutAuth: Mirror = { upstream: "docker.io", endpoints: [{ url: am.url, caCert: am.caPem! }] };

    // Without auth: the mirror answers 401, and with the upstream down nothing else can serve it.
    await install(lab, name, [withoutAuth], { label: "auth-mirror without auth" });
    const denied = await lab.pushImage("library/auth-denied");
    let marks = mark(lab);
    const error = await withUpstreamDown(lab, () => expectPullFails(lab.criPull(name, denied.ref, { timeoutMs: 60_000 })));
    expect(error).toMatch(/401|unauthorized|authorization/i);
    const deniedSeen = seenSince(lab, denied, marks);
    expect(show(manifestRequests(deniedSeen["auth-mirror"], denied))).toEqual(expect.arrayContaining([expect.stringMatching(/ 401 containerd\//)]));
    expect(deniedSeen["auth-mirror"].every((r) => r.status === 401 && r.remoteUser === "")).toBe(true);
    expect(deniedSeen.upstream).toEqual([]);

    // With auth: crictl is given no credentials; the Authorization header of hosts.toml does it.
    const { plan } = await install(lab, name, [withAuth], { label: "auth-mirror with auth" });
    const file = plan.files.find((f) => f.path === hostsToml("docker.io"))!;
    expect(file).toMatchObject({ mode: 0o600, secret: true });
    expect((await lab.nsExecOk(name, ["stat", "-c", "%a", file.path])).trim()).toBe("600");
    const ca = plan.files.find((f) => f.path.endsWith(".ca.crt"))!;
    expect(lab.readNodeFile(name, ca.path)).toBe(`${am.caPem!.trim()}\n`);
    const img = await lab.pushImage("library/auth-ok");
    marks = mark(lab);
    const pulled = await withUpstreamDown(lab, () => lab.criPull(name, img.ref));
    expect(pulled.repoDigest).toBe(repoDigest(img));
    const reqs = expectServedOnlyBy(lab, img, marks, "auth-mirror", { ns: "docker.io", user: am.username! });
    expect(reqs.filter((r) => r.status === 200).every((r) => r.remoteUser === am.username)).toBe(true);
  });

  test("namespaced mirror (URL path /v2/test-namespace): override_path, pull with the upstream down", async () => {
    const ns = lab.registry("ns-mirror");
    const { plan } = await install(lab, name, [{ upstream: "docker.io", endpoints: [{ url: ns.url }] }], { label: "ns-mirror" });
    const doc = parse(plan.files.find((f) => f.path === hostsToml("docker.io"))!.content) as { host: Record<string, Record<string, unknown>> };
    expect(doc.host[ns.url]).toMatchObject({ override_path: true });

    const img = await lab.pushImage("library/ns-proof");
    const marks = mark(lab);
    const pulled = await withUpstreamDown(lab, () => lab.criPull(name, img.ref));
    expect(pulled.repoDigest).toBe(repoDigest(img));
    const reqs = expectServedOnlyBy(lab, img, marks, "ns-mirror", { ns: "docker.io" });
    // Under the namespace, without a second /v2 (override_path): /v2/test-namespace/<repo>/…
    expect(reqs.every((r) => r.path.startsWith(`${ns.pathPrefix}/${img.repo}/`))).toBe(true);
  });

  test("two endpoints in order, the first unreachable, fallback off: the second serves the pull; the upstream is untouched", async () => {
    const dead = `http://127.0.0.1:${await closedPort()}`;
    const { plan } = await install(lab, name, [{ upstream: "docker.io", endpoints: [{ url: dead }, { url: url("mirror") }], fallback: false }], {
      label: "two endpoints",
    });
    const doc = parse(plan.files.find((f) => f.path === hostsToml("docker.io"))!.content) as { server: string; host: Record<string, unknown> };
    expect(doc.server).toBe(dead);
    expect(Object.keys(doc.host)).toEqual([dead, url("mirror")]);
    const img = await lab.pushImage("library/two-endpoints");
    const marks = mark(lab);
    expect((await lab.criPull(name, img.ref)).repoDigest).toBe(repoDigest(img));
    expectServedOnlyBy(lab, img, marks, "mirror", { ns: "docker.io" });
  });

  test('digestOnly (capabilities = ["pull"]): a digest pull is served by the mirror alone; a tag is resolved only by the upstream', async () => {
    const { plan } = await install(lab, name, [dockerHub({ digestOnly: true })], { label: "digest-only" });
    const doc = parse(plan.files.find((f) => f.path === hostsToml("docker.io"))!.content) as {
      server: string;
      host: Record<string, Record<string, unknown>>;
    };
    expect(doc.server).toBe("https://registry-1.docker.io");
    expect(doc.host[url("mirror")].capabilities).toEqual(["pull"]);

    // Digest reference, upstream down: the mirror alone.
    const byDigest = await lab.pushImage("library/c-digest-only-digest");
    let marks = mark(lab);
    expect((await withUpstreamDown(lab, () => lab.criPull(name, byDigest.digestRef))).repoDigest).toBe(repoDigest(byDigest));
    expectServedOnlyBy(lab, byDigest, marks, "mirror", { ns: "docker.io", ref: byDigest.digest });

    // Tag reference, upstream up: the tag is resolved by the upstream only (the mirror never sees the tag).
    // containerd then fetches the content by digest from the hosts with "pull", the mirror first.
    const byTag = await lab.pushImage("library/c-digest-only-tag");
    marks = mark(lab);
    expect((await lab.criPull(name, byTag.ref)).repoDigest).toBe(repoDigest(byTag));
    const seen = seenSince(lab, byTag, marks);
    console.log(`[info] ${name} digestOnly tag pull: upstream ${JSON.stringify(show(seen.upstream))}, mirror ${JSON.stringify(show(seen.mirror))}`);
    expect(manifestRequests(seen.upstream, byTag).some((r) => r.status === 200)).toBe(true);
    expect(seen.mirror.filter((r) => r.path.includes(`/manifests/${byTag.tag}`))).toEqual([]);
    expect(seen.mirror.every((r) => /\/(manifests|blobs)\/sha256:/.test(r.path) && r.params.ns === "docker.io")).toBe(true);
    expect(seen.mirror.length).toBeGreaterThan(0);
    expect(seen.upstream.every((r) => r.path.endsWith(`/manifests/${byTag.tag}`))).toBe(true);

    // Tag reference, upstream down: nothing can resolve it; the mirror is not asked.
    const tagDown = await lab.pushImage("library/c-digest-only-tag-down");
    marks = mark(lab);
    await withUpstreamDown(lab, () => expectPullFails(lab.criPull(name, tagDown.ref, { timeoutMs: 60_000 })));
    expect(Object.values(seenSince(lab, tagDown, marks)).flat()).toEqual([]);
  });

  test('upstream "*": _default/hosts.toml serves a quay.io image with the upstream down', async () => {
    const { plan } = await install(lab, name, [{ upstream: "*", endpoints: [{ url: url("mirror") }] }], { label: "_default" });
    expect(plan.files.map((f) => f.path)).toEqual([hostsToml("_default")]);
    expect(lab.readNodeFile(name, hostsToml("_default"))).toBe(plan.files[0].content);
    // The docker.io file of the previous cases is gone: only _default can be what serves this pull.
    expect(lab.nodeFileExists(name, hostsToml("docker.io"))).toBe(false);

    const img = await lab.pushImage("lab/star-proof", undefined, { registry: "quay.io" });
    expect(img.ref).toMatch(/^quay\.io\/lab\/star-proof:/);
    const marks = mark(lab);
    const pulled = await withUpstreamDown(lab, () => lab.criPull(name, img.ref));
    expect(pulled.repoDigest).toBe(repoDigest(img));
    expectServedOnlyBy(lab, img, marks, "mirror", { ns: "quay.io" });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// CRI-O node: the registries.conf.d drop-in read by CRI-O itself (over CRI) and by skopeo (the same library).

describe("node3 (CRI-O) with the registries.conf.d drop-in", () => {
  const name = "node3";
  const dropIn = `${PATHS.registriesDir}/99-registry-mirrors-docker.io.conf`;

  test("skopeo inspect goes through the mirror (upstream down); CRI-O is reloaded, not restarted", async () => {
    const reloads = lab.systemctlCalls(name).filter((c) => c.verb === "reload" && c.unit === "crio").length;
    const { state, plan, report } = await install(lab, name, [dockerHub()], { label: "crio drop-in" });
    expect(state.runtime).toMatchObject({ kind: "cri-o" });
    expect(plan.action).toBe("reload");
    expect(report.action).toBe("reload");
    expect(lab.systemctlCalls(name).filter((c) => c.verb === "reload" && c.unit === "crio" && c.uid === 0 && c.exitCode === 0).length).toBe(
      reloads + 1,
    );
    expect(lab.readNodeFile(name, dropIn)).toBe(plan.files.find((f) => f.path === dropIn)!.content);

    const img = await lab.pushImage("library/skopeo-proof");
    const marks = mark(lab);
    const info = await withUpstreamDown(lab, () => lab.skopeoInspect(name, img.ref));
    expect(info.Digest).toBe(img.digest);
    const reqs = expectServedOnlyBy(lab, img, marks, "mirror");
    expect(reqs.every((r) => r.userAgent.startsWith("skopeo/"))).toBe(true);
    // CRI-O itself, after the reload: a CRI pull served by the mirror.
    const cri = await lab.pushImage("library/crio-proof");
    const criMarks = mark(lab);
    expect((await withUpstreamDown(lab, () => lab.criPull(name, cri.ref))).repoDigests.join()).toContain(cri.digest);
    const served = expectServedOnlyBy(lab, cri, criMarks, "mirror");
    expect(served.some((r) => r.userAgent.startsWith("cri-o/"))).toBe(true);
  });

  test("fallback off, mirror unreachable, upstream UP: skopeo fails and never contacts the upstream", async () => {
    const dead = `http://127.0.0.1:${await closedPort()}`;
    await install(lab, name, [{ upstream: "docker.io", endpoints: [{ url: dead }], fallback: false }], { label: "crio fallback-off-dead-mirror" });
    const img = await lab.pushImage("library/skopeo-fallback-off");
    const marks = mark(lab);
    const error = await expectPullFails(lab.skopeoInspect(name, img.ref));
    expect(error).toMatch(/connection refused/);
    expect(Object.values(seenSince(lab, img, marks)).flat()).toEqual([]);
  });

  test("namespaced mirror: location host/test-namespace, skopeo pulls through it with the upstream down", async () => {
    const ns = lab.registry("ns-mirror");
    const { plan } = await install(lab, name, [{ upstream: "docker.io", endpoints: [{ url: ns.url }] }], { label: "crio ns-mirror" });
    const conf = parse(plan.files.find((f) => f.path === dropIn)!.content) as { registry: { mirror: { location: string }[] }[] };
    expect(conf.registry[0].mirror[0].location).toBe(`${ns.host}/test-namespace`);
    const img = await lab.pushImage("library/skopeo-ns");
    const marks = mark(lab);
    expect((await withUpstreamDown(lab, () => lab.skopeoInspect(name, img.ref))).Digest).toBe(img.digest);
    const reqs = expectServedOnlyBy(lab, img, marks, "ns-mirror");
    expect(reqs.every((r) => r.path.startsWith(`${ns.pathPrefix}/${img.repo}/`))).toBe(true);
  });

  test("HTTPS mirror with private CA (containers certs.d) and credentials (auth file): skopeo pulls with the upstream down", async () => {
    const am = lab.registry("auth-mirror");
    const { plan } = await install(
      lab,
      name,
      [{ upstream: "docker.io", endpoints: [{ url: am.url, caCert: am.caPem!, auth: { username: am.username!, password: am.password! } }] }],
      { label: "crio auth-mirror" },
    );
    expect(plan.files.map((f) => f.path)).toEqual([`${PATHS.containersCertsDir}/${am.host}/ca.crt`, PATHS.containersAuthFile, dropIn].sort());
    expect((await lab.nsExecOk(name, ["stat", "-c", "%a", PATHS.containersAuthFile])).trim()).toBe("600");
    const img = await lab.pushImage("library/skopeo-auth");
    const denied = await lab.pushImage("library/skopeo-auth-denied");
    const marks = mark(lab);
    await withUpstreamDown(lab, async () => {
      // skopeo (like podman) reads the auth file only when told; CRI-O via global_auth_file (see the plan's warning).
      expect((await lab.skopeoInspect(name, img.ref, { args: ["--authfile", PATHS.containersAuthFile] })).Digest).toBe(img.digest);
      await expectPullFails(lab.skopeoInspect(name, denied.ref));
    });
    expectServedOnlyBy(lab, img, marks, "auth-mirror", { user: am.username! });
    expect(seenSince(lab, denied, marks)["auth-mirror"].every((r) => r.status === 401)).toBe(true);
  });

  test('digest-only mirror (pull-from-mirror = "digest-only"): digest pulls use the mirror, tag pulls go to the upstream', async () => {
    const { plan } = await install(lab, name, [dockerHub({ digestOnly: true })], { label: "crio digest-only" });
    const conf = parse(plan.files.find((f) => f.path === dropIn)!.content) as {
      registry: { prefix: string; location: string; mirror: Record<string, unknown>[] }[];
    };
    expect(conf.registry).toEqual([
      {
        prefix: "docker.io",
        location: "docker.io",
        mirror: [{ location: lab.registry("mirror").host, insecure: true, "pull-from-mirror": "digest-only" }],
      },
    ]);
    // What the node's skopeo is built with (Debian skopeo 1.9.3, containers/image 5.23.1: pull-from-mirror since 5.21.0).
    const version = (await lab.nsExecOk(name, ["skopeo", "--version"])).trim();
    const builtWith = (await lab.nsExecOk(name, ["dpkg-query", "-W", "-f", "${Built-Using}", "skopeo"]))
      .split(",")
      .map((x) => x.trim())
      .filter((x) => x.includes("github-containers-image"));
    console.log(`[info] node3: ${version}, built with ${builtWith.join(", ")}`);

    // 1. digest reference, upstream DOWN: served by the mirror.
    const byDigest = await lab.pushImage("library/digest-only-digest");
    let marks = mark(lab);
    const info = await withUpstreamDown(lab, () => lab.skopeoInspect(name, byDigest.digestRef));
    expect(info.Digest).toBe(byDigest.digest);
    expectServedOnlyBy(lab, byDigest, marks, "mirror", { ref: byDigest.digest });

    // 2. tag reference, upstream UP: the mirror is skipped, the upstream serves it.
    const byTag = await lab.pushImage("library/digest-only-tag");
    marks = mark(lab);
    expect((await lab.skopeoInspect(name, byTag.ref)).Digest).toBe(byTag.digest);
    const up = expectServedOnlyBy(lab, byTag, marks, "upstream");
    expect(up.every((r) => r.userAgent.startsWith("skopeo/"))).toBe(true);

    // 3. tag reference, upstream DOWN: nothing may serve it; the mirror is not even asked.
    const tagDown = await lab.pushImage("library/digest-only-tag-down");
    marks = mark(lab);
    const error = await withUpstreamDown(lab, () => expectPullFails(lab.skopeoInspect(name, tagDown.ref)));
    expect(error).toMatch(/registry-1\.docker\.io|connection refused/);
    expect(Object.values(seenSince(lab, tagDown, marks)).flat()).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Removal: the agent's remove command returns every node to where it started.

describe("removal over SSH restores the nodes", () => {
  test.each(CONTAINERD_NODES)(
    "%s: config.toml back byte for byte, our hosts.toml gone, CRI loads, pulls go straight to the upstream",
    async (name) => {
      const restarts = lab.restartCount(name);
      const started = Date.now();
      const r = await lab.exec(name, removeCommand({ node: name }, "containerd"), { timeoutMs: 150_000 });
      timing(`${name} remove`, Date.now() - started);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
      expect(parseApplyOutput(r.stdout).done).toBe(true);
      expect(lab.readNodeFile(name, PATHS.containerdConfig)).toBe(originals[name].config);
      expect(lab.nodeFileExists(name, PATHS.hostsDir)).toBe(originals[name].hostsDirExisted);
      expect(lab.restartCount(name)).toBe(restarts + 1);
      expect(await lab.runtimeState(name)).toBe("active");
      expect(await lab.criLoaded(name)).toBe(true);

      const img = await lab.pushImage("library/after-removal");
      const marks = mark(lab);
      expect((await lab.criPull(name, img.ref)).repoDigest).toBe(repoDigest(img));
      expectServedOnlyBy(lab, img, marks, "upstream");
    },
  );

  test("node3: the drop-in and the files beside it are gone, CRI-O reloaded, skopeo goes straight to the upstream", async () => {
    const name = "node3";
    const reloads = lab.systemctlCalls(name).filter((c) => c.verb === "reload" && c.unit === "crio").length;
    const r = await lab.exec(name, removeCommand({ node: name }, "cri-o"), { timeoutMs: 150_000 });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(lab.nodeFileExists(name, `${PATHS.registriesDir}/99-registry-mirrors-docker.io.conf`)).toBe(false);
    expect(lab.nodeFileExists(name, PATHS.containersAuthFile)).toBe(false);
    expect(lab.systemctlCalls(name).filter((c) => c.verb === "reload" && c.unit === "crio").length).toBe(reloads + 1);
    const img = await lab.pushImage("library/skopeo-after-removal");
    const marks = mark(lab);
    expect((await lab.skopeoInspect(name, img.ref)).Digest).toBe(img.digest);
    expectServedOnlyBy(lab, img, marks, "upstream");
  });
});
