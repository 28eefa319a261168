/**
 * End to end with the real engine: the root program (Pulumi.yaml → program/, config-driven) run by the real
 * `pulumi` CLI 3.248.0 + the Node.js language host 3.248.0 + pulumi-resource-command 1.2.1 from the plugin cache
 * (versions printed at the start), offline with a file backend, against lab nodes:
 * node1 containerd 1.6 root · node2 containerd 2.x root · node3 CRI-O-style root · node4 containerd 1.6 as the
 * `lab` user through sudo · node5 containerd 1.6 root (added later; its first restart fails once).
 *
 * One lab and one stack for the whole file; the tests run in order and build on each other.
 */
import * as fs from "fs";
import { startLab, type Lab, type NodeDescription } from "../lab";
import { labNodeConfig, ProgramStack, requireTools, toolVersions, type RunResult } from "./stack";
import type { NodeReport } from "../../src";

jest.setTimeout(600_000);

const FIRST = ["node1", "node2", "node3", "node4"];
const CONTAINERD = ["node1", "node2", "node4", "node5"];
const CONFIG_TOML = "/etc/containerd/config.toml";
const CRIO_DROP_IN = "/etc/containers/registries.conf.d/99-registry-mirrors-docker.io.conf";
const hostsToml = (upstream: string) => `/etc/containerd/certs.d/${upstream}/hosts.toml`;

type Report = NodeReport;

describe("the root program through the real pulumi CLI on lab nodes", () => {
  let lab: Lab;
  let stack: ProgramStack;
  const timings: [string, number][] = [];
  const before: Record<string, string | undefined> = {};
  let nodes: Record<string, Record<string, unknown>> = {};
  let mirrors: Record<string, unknown>[] = [];
  const secrets: Record<string, string> = {};
  const extra: Record<string, unknown> = { healthTimeoutSeconds: 10 };
  let destroyed = false;
  /** node1's config.toml as a person edited it after the install (destroy must leave it). */
  let edited = "";

  const sessions = (names: string[]) => Object.fromEntries(names.map((n) => [n, lab.sshSessionCount(n)]));
  const restarts = (names: string[]) => Object.fromEntries(names.map((n) => [n, lab.restartCount(n)]));
  const timed = (what: string, r: RunResult) => {
    timings.push([what, r.ms]);
    process.stdout.write(`TIMING ${what}: ${r.ms} ms\n`);
    return r;
  };
  const configure = (names: string[]) => stack.configure({ mirrors, nodes: names.map((n) => nodes[n]), ...extra }, secrets);
  /** The lines of `out` that belong to resource `name` (from its header to the next resource header). */
  const section = (out: string, name: string): string => {
    const lines = out.split("\n");
    // `~ command:remote:Command: (update)` comes before `[id=…]` and `[urn=…::name]`.
    const header = (l: string) => /^\s*[~+-]*\s*\S+:\S+:\S+: \(/.test(l);
    const urn = lines.findIndex((l) => l.includes(`::${name}]`));
    if (urn < 0) return "";
    let start = urn;
    while (start > 0 && urn - start < 3 && !header(lines[start])) start--;
    const end = lines.findIndex((l, i) => i > urn && header(l));
    return lines.slice(start, end < 0 ? undefined : end).join("\n");
  };

  beforeAll(async () => {
    requireTools();
    process.stdout.write(`ENGINE ${JSON.stringify(toolVersions())}\n`);
    const t0 = Date.now();
    lab = await startLab({
      nodes: [
        { name: "node1", runtime: "containerd" },
        { name: "node2", runtime: "containerd2" },
        { name: "node3", runtime: "crio" },
        { name: "node4", runtime: "containerd", user: "lab", sudo: "nopasswd" },
        { name: "node5", runtime: "containerd" },
      ],
      waitForOtherLabMs: 900_000,
    });
    process.stdout.write(`TIMING lab start (incl. waiting for another lab): ${Date.now() - t0} ms\n`);
    const d = lab.describe();
    nodes = Object.fromEntries(d.nodes.map((n: NodeDescription) => [n.name, labNodeConfig(n)]));
    for (const n of CONTAINERD) before[n] = lab.tryReadNodeFile(n, CONFIG_TOML);
    const mirror = lab.registry("mirror").url;
    mirrors = [
      { upstream: "docker.io", endpoints: [{ url: mirror }] },
      { upstream: "gcr.io", endpoints: [{ url: mirror }], fallback: false },
    ];
    stack = new ProgramStack(`e2e${process.pid}`);
    await stack.init();
    await configure(FIRST);
  }, 1_200_000); // up to 15 min waiting for another lab on this machine, then about 2 min to start

  afterAll(async () => {
    if (timings.length > 0)
      process.stdout.write(`TIMINGS\n${timings.map(([w, ms]) => `  ${w.padEnd(58)} ${String(ms).padStart(7)} ms`).join("\n")}\n`);
    await stack?.dispose({ keepDir: process.env.REGMIRROR_KEEP_STACK === "1" }).catch(() => undefined);
    await lab?.upstreamUp().catch(() => undefined);
    await lab?.stop();
  });

  test("first pulumi up provisions node1..node4; a pull goes through the mirror", async () => {
    const r = timed("first pulumi up (4 nodes, with preview)", await stack.run(["up", "--yes"]));
    expect(r.out).toMatch(/15 created/);
    const reports = await stack.reports<Record<string, Report>>();
    expect(Object.keys(reports).sort()).toEqual(FIRST);
    expect(reports.node1).toMatchObject({ runtime: { kind: "containerd", version: "1.6.20" }, action: "restart", verification: "ok" });
    expect(reports.node2.runtime.version).toMatch(/^2\./);
    expect(reports.node3).toMatchObject({ runtime: { kind: "cri-o" }, action: "reload", verification: "ok" });
    expect(reports.node4).toMatchObject({ runtime: { kind: "containerd" }, action: "restart", verification: "ok" });
    for (const n of ["node1", "node2", "node4"]) expect(lab.tryReadNodeFile(n, hostsToml("docker.io"))).toContain(lab.registry("mirror").url);
    expect(lab.tryReadNodeFile("node3", CRIO_DROP_IN)).toContain(lab.registry("mirror").host);

    const image = await lab.pushImage("library/e2e");
    const from = lab.requestCount("mirror");
    await lab.upstreamDown();
    try {
      expect((await lab.criPull("node2", image.ref)).repoDigest).toContain(image.digest);
    } finally {
      await lab.upstreamUp();
    }
    expect(lab.requestsFor("mirror", image.repo, { from }).length).toBeGreaterThan(0);
  });

  test("verify.pull: every node pulls an image through the mirrors alone after its apply and reports the digest", async () => {
    const image = await lab.pushImage("library/proof");
    extra.verify = { pull: image.ref };
    await configure(FIRST);
    await lab.upstreamDown();
    try {
      const r = timed("pulumi up, proof pull added (4 nodes, upstream down)", await stack.run(["up", "--yes", "--skip-preview"]));
      expect(r.out).not.toMatch(/error:/);
    } finally {
      await lab.upstreamUp();
    }
    const reports = await stack.reports<Record<string, Report>>();
    for (const n of FIRST) {
      expect(reports[n].proof).toEqual({ image: image.ref, digest: image.digest, servedBy: lab.registry("mirror").url });
      expect(reports[n].probes.every((p) => p.result === "ok")).toBe(true);
    }
    expect(reports.node2.effective).toMatch(/^containerd reads \/etc\/containerd\/certs\.d/);
    delete extra.verify;
    await configure(FIRST);
    timed("pulumi up, proof pull removed (4 nodes)", await stack.run(["up", "--yes", "--skip-preview"]));
  });

  test("an immediate second pulumi up reports no changes and opens no SSH session", async () => {
    const s0 = sessions(FIRST);
    const r0 = restarts(FIRST);
    const up = timed("no-op pulumi up --expect-no-changes (with preview)", await stack.run(["up", "--yes", "--expect-no-changes"]));
    expect(up.out).toMatch(/15 unchanged/);
    const fast = timed("no-op pulumi up --skip-preview", await stack.run(["up", "--yes", "--skip-preview", "--expect-no-changes"]));
    expect(fast.out).toMatch(/15 unchanged/);
    timed("no-op pulumi preview --expect-no-changes", await stack.run(["preview", "--expect-no-changes"]));
    expect(sessions(FIRST)).toEqual(s0);
    expect(restarts(FIRST)).toEqual(r0);
  });

  test("pulumi preview --diff of a changed mirror shows the new hosts.toml lines per node, runs nothing", async () => {
    const ns = lab.registry("ns-mirror");
    // docker.io gets the namespaced mirror first (override_path), the plain mirror second.
    mirrors = [
      { upstream: "docker.io", endpoints: [{ url: ns.url }, { url: lab.registry("mirror").url }] },
      { upstream: "gcr.io", endpoints: [{ url: lab.registry("mirror").url }], fallback: false },
    ];
    await configure(FIRST);
    const s0 = sessions(FIRST);
    const r = timed("pulumi preview --diff (mirrors change, 4 nodes)", await stack.run(["preview", "--diff"]));
    expect(sessions(FIRST)).toEqual(s0);
    for (const n of ["node1", "node2", "node4"]) {
      const s = section(r.out, `mirrors-${n}-apply`);
      expect(s).toMatch(/~ command:remote:Command: \(update\)/);
      // The added lines of docker.io's hosts.toml, readable (not [secret], not [unknown], not base64).
      expect(s).toContain(`[host."${ns.url}"]`);
      expect(s).toContain("override_path = true");
      expect(s).not.toMatch(/create\s*:\s*\[(secret|unknown)\]/);
    }
    const crio = section(r.out, "mirrors-node3-apply");
    expect(crio).toMatch(/~ command:remote:Command: \(update\)/);
    expect(crio).toContain(`location = "${ns.host}/test-namespace"`);
    // Nothing but the apply commands (and, through their triggers, the reads) changes.
    expect(r.out).not.toMatch(/mirrors-node\d-apply[^\n]*\n[^\n]*\(replace\)/);
  });

  test("a mirrors-only change: pulumi up rewrites hosts.toml, restarts no runtime, exactly one SSH session per node", async () => {
    const s0 = sessions(FIRST);
    const r0 = restarts(FIRST);
    const r = timed("pulumi up, mirrors-only change (4 nodes)", await stack.run(["up", "--yes", "--skip-preview"]));
    expect(r.out).not.toMatch(/error:/);
    const ns = lab.registry("ns-mirror");
    for (const n of ["node1", "node2", "node4"]) expect(lab.tryReadNodeFile(n, hostsToml("docker.io"))).toContain(`[host."${ns.url}"]`);
    expect(restarts(FIRST)).toEqual(r0);
    const s1 = sessions(FIRST);
    // The read is not run again (nothing it feeds the plan changed): the apply is the one session.
    expect(Object.fromEntries(FIRST.map((n) => [n, s1[n] - s0[n]]))).toEqual(Object.fromEntries(FIRST.map((n) => [n, 1])));
    expect(r.out).not.toContain("from $PATH");
    const reports = await stack.reports<Record<string, Report>>();
    for (const n of ["node1", "node2", "node4"]) expect(reports[n].action).toBe("none");
    expect(reports.node3.action).toBe("reload");
  });

  test("config.toml edited on a node after its last read: the next change is refused there (nothing written) and the command it names re-reads", async () => {
    edited = `${lab.tryReadNodeFile("node1", CONFIG_TOML)}# edited by hand after the install\n`;
    lab.writeNodeFile("node1", CONFIG_TOML, edited);
    const hostsBefore = lab.tryReadNodeFile("node1", hostsToml("gcr.io"));
    const ns = lab.registry("ns-mirror");
    mirrors = [mirrors[0], { upstream: "gcr.io", endpoints: [{ url: ns.url }, { url: lab.registry("mirror").url }], fallback: false }];
    await configure(FIRST);
    const r0 = restarts(FIRST);
    const failed = timed(
      "pulumi up after a hand edit (expected failure on node1)",
      await stack.run(["up", "--yes", "--skip-preview"], { expectFailure: true }),
    );
    expect(failed.out).toMatch(/node node1: step cas: \/etc\/containerd\/config.toml changed since it was read/);
    expect(lab.tryReadNodeFile("node1", CONFIG_TOML)).toBe(edited);
    expect(lab.tryReadNodeFile("node1", hostsToml("gcr.io"))).toBe(hostsBefore);
    for (const n of ["node2", "node4"]) expect(lab.tryReadNodeFile(n, hostsToml("gcr.io"))).toContain(`[host."${ns.url}"]`);
    const replace = /pulumi up --replace '([^']+)'/.exec(failed.out);
    expect(replace?.[1]).toMatch(/::mirrors-node1-read$/);

    const s0 = sessions(["node1"]);
    const again = timed("pulumi up --replace <node1 read>", await stack.run(["up", "--yes", "--skip-preview", "--replace", replace![1]]));
    expect(again.out).not.toMatch(/error:/);
    expect(sessions(["node1"]).node1 - s0.node1).toBe(2); // read + apply
    expect(lab.tryReadNodeFile("node1", CONFIG_TOML)).toBe(edited); // config_path was already right: kept as edited
    expect(lab.tryReadNodeFile("node1", hostsToml("gcr.io"))).toContain(`[host."${ns.url}"]`);
    expect(restarts(FIRST)).toEqual(r0);
  });

  test("a credential set and then rotated as secret config stays out of the state and the CLI output", async () => {
    const auth = lab.registry("auth-mirror");
    const rotated = `rotated-${process.pid}-Zq9x`;
    const b64 = (pw: string) => Buffer.from(`${auth.username}:${pw}`).toString("base64");
    mirrors = [
      ...mirrors,
      { upstream: "quay.io", endpoints: [{ url: auth.url, caCert: auth.caPem, auth: { username: auth.username } }], fallback: false },
    ];
    const pwPath = `mirrors[${mirrors.length - 1}].endpoints[0].auth.password`;
    secrets[pwPath] = auth.password!;
    await configure(FIRST);
    expect(fs.readFileSync(stack.configFile, "utf8")).not.toContain(auth.password);
    const add = timed("pulumi up, auth mirror added (4 nodes)", await stack.run(["up", "--yes", "--skip-preview"]));
    expect(add.out).not.toMatch(/error:/);
    expect(lab.tryReadNodeFile("node1", hostsToml("quay.io"))).toContain(b64(auth.password!));

    secrets[pwPath] = rotated;
    await configure(FIRST);
    const diff = timed("pulumi preview --diff, credential rotated", await stack.run(["preview", "--diff"]));
    expect(diff.out).toMatch(/mirrors-node1-apply/); // the change is visible as a change…
    // The mirror does not know the rotated password: each node's probe says so before anything is written.
    const refused = timed(
      "pulumi up, credential the mirror rejects (expected failure)",
      await stack.run(["up", "--yes", "--skip-preview"], { expectFailure: true }),
    );
    expect(refused.out).toMatch(/node node1: step probe: mirror endpoints do not answer from this node .*nothing was written/);
    expect(refused.out).toMatch(new RegExp(`${auth.url.replace(/[.]/g, "\\.")}: HTTP 401: the mirror rejects the credentials`));
    expect(lab.tryReadNodeFile("node1", hostsToml("quay.io"))).toContain(b64(auth.password!));
    // With the probe off the credential is written as given… (and stays off for the rest of this stack: the mirror
    // does not know the rotated password, so every node added later would fail its probe)
    extra.probe = "off";
    await configure(FIRST);
    const rot = timed("pulumi up, credential rotated, probe off (4 nodes)", await stack.run(["up", "--yes", "--skip-preview"]));
    expect(rot.out).not.toMatch(/error:/);
    expect(lab.tryReadNodeFile("node1", hostsToml("quay.io"))).toContain(b64(rotated)); // …and reaches the node

    const state = await stack.exportState();
    // The credential reaches the node only through the apply command's stdin, which the state holds encrypted.
    const SIG = "4dabf18193072939515e22adb298388d";
    const resources: { urn: string; inputs?: Record<string, unknown>; outputs?: Record<string, unknown> }[] = JSON.parse(state).deployment.resources;
    const apply = resources.find((r) => r.urn.endsWith("::mirrors-node1-apply"))!;
    expect(apply.inputs!.stdin).toMatchObject({ [SIG]: "1b47061264138c4ac30d75fd1eb44270", ciphertext: expect.any(String) });
    expect(apply.outputs!.stdin).toMatchObject({ [SIG]: "1b47061264138c4ac30d75fd1eb44270", ciphertext: expect.any(String) });
    for (const secret of [auth.password!, rotated, b64(auth.password!), b64(rotated)]) {
      expect(state).not.toContain(secret);
      for (const out of stack.outputs) expect(out).not.toContain(secret);
    }
  });

  test("fault through the engine: node5 added whose runtime fails to restart → up fails naming node5, previous files restored", async () => {
    const s0 = sessions(FIRST);
    lab.failNextRestart("node5");
    await configure([...FIRST, "node5"]);
    const r = timed(
      "pulumi up, node5 added, restart fails (expected failure)",
      await stack.run(["up", "--yes", "--skip-preview"], { expectFailure: true }),
    );
    expect(r.out).toMatch(/node node5/);
    expect(r.out).toMatch(/previous files were restored/);
    expect(lab.tryReadNodeFile("node5", CONFIG_TOML)).toBe(before.node5);
    expect(lab.nodeFileExists("node5", hostsToml("docker.io"))).toBe(false);
    expect(await lab.runtimeState("node5")).toBe("active");
    expect(sessions(FIRST)).toEqual(s0);
  });

  test("a node added to the config is provisioned without touching the others", async () => {
    const s0 = sessions(FIRST);
    const r0 = restarts(FIRST);
    const r = timed("pulumi up, node5 added (retry)", await stack.run(["up", "--yes", "--skip-preview"]));
    expect(r.out).not.toMatch(/error:/);
    const reports = await stack.reports<Record<string, Report>>();
    expect(reports.node5).toMatchObject({ action: "restart", verification: "ok" });
    expect(lab.tryReadNodeFile("node5", hostsToml("docker.io"))).toContain(lab.registry("ns-mirror").url);
    expect(sessions(FIRST)).toEqual(s0);
    expect(restarts(FIRST)).toEqual(r0);
  });

  test("pulumi destroy restores every node's previous config.toml bytes (but a person's edit) and removes what it wrote", async () => {
    const r = timed("pulumi destroy (5 nodes)", await stack.run(["destroy", "--yes", "--skip-preview"]));
    destroyed = true;
    expect(r.out).not.toMatch(/error:/);
    for (const n of CONTAINERD) {
      // node1's config.toml was edited by hand after we wrote it: restoring it would lose that edit.
      expect(lab.tryReadNodeFile(n, CONFIG_TOML)).toBe(n === "node1" ? edited : before[n]);
      expect(lab.nodeFileExists(n, hostsToml("docker.io"))).toBe(false);
      expect(lab.nodeFileExists(n, hostsToml("quay.io"))).toBe(false);
    }
    expect(lab.nodeFileExists("node3", CRIO_DROP_IN)).toBe(false);
    expect(destroyed).toBe(true);
  });
});
