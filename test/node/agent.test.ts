/**
 * The node agent, run for real with /bin/sh on this machine against files in a temporary directory (a FakeNode:
 * paths and state directory overridden). Applies are composed as the component ships them (applyScript with the
 * files rendered from the spec, applyStdin with the plan from the read). Restarts and sudo are exercised on lab
 * nodes (test/integration).
 */
import { execFileSync, spawn, spawnSync } from "child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "fs";
import { join } from "path";
import { renderNodeConfig, type Mirror } from "../../src";
import { applyStdin, parseApplyOutput, parseReadOutput, readCommand, type NodeTarget } from "../../src/node/protocol";
import { sha256 } from "../../src/node/shell";
import { FakeNode, LIVE_CONFIG as LIVE } from "./fake-node";

let node: FakeNode;

/** One apply of `mirrors` from a read now; `healthy: false` makes the runtime never answer after its restart. */
function apply(mirrors: Mirror[], opts: { healthy?: boolean } = {}) {
  return node.runShippedApply(mirrors, { target: { control: { healthCheck: opts.healthy === false ? "false" : "true" } } });
}

const MIRROR: Mirror = { upstream: "docker.io", endpoints: [{ url: "http://127.0.0.1:5000", auth: { username: "u", password: "p4ss" } }] };
const GCR: Mirror = { upstream: "gcr.io", endpoints: [{ url: "https://gcr-mirror.internal" }] };

beforeEach(() => {
  node = new FakeNode();
});
afterEach(() => node.dispose());

it("reads the runtime's main config and its hash", () => {
  const state = node.read();
  expect(state.runtime.kind).toBe("containerd");
  expect(state.mainConfig).toEqual({ path: node.paths.containerdConfig, sha256: sha256(LIVE), content: LIVE });
  expect(state.manifest).toEqual([]);
});

it("first apply writes files with their modes, edits config.toml keeping its mode, restarts once, and reads back", () => {
  const { result, report, plan } = apply([MIRROR]);
  expect(result.stderr).toBe("");
  expect(result.status).toBe(0);
  const hostsToml = join(node.paths.hostsDir, "docker.io/hosts.toml");
  expect(readFileSync(hostsToml, "utf8")).toBe(plan.files[0].content);
  expect(statSync(hostsToml).mode & 0o777).toBe(0o600);
  expect(statSync(node.paths.containerdConfig).mode & 0o777).toBe(0o640);
  expect(readFileSync(node.paths.containerdConfig, "utf8")).toBe(plan.mainConfig!.content);
  expect(report).toMatchObject({ action: "restart", done: true, written: [hostsToml, node.paths.containerdConfig] });
  expect(Object.keys(report.readBack).sort()).toEqual([hostsToml, node.paths.containerdConfig].sort());
  expect(node.restarts()).toBe(1);
  expect(readdir(node.root).filter((f) => f.includes(".rm-new"))).toEqual([]);
});

it("keeps secrets out of the command text: they travel on stdin", () => {
  const { cmd } = apply([MIRROR]);
  const authHeader = Buffer.from("u:p4ss").toString("base64");
  expect(cmd.command).not.toContain(authHeader);
  expect(cmd.command).not.toContain("p4ss");
  expect(cmd.stdin).not.toContain(authHeader); // base64 of the file, not the header itself
  expect(cmd.stdin.length).toBeGreaterThan(0);
});

it("a second identical apply writes nothing and does not restart", () => {
  apply([MIRROR]);
  const { report, plan } = apply([MIRROR]);
  expect(plan.mainConfig).toBeUndefined();
  expect(report.written).toEqual([]);
  expect(node.restarts()).toBe(1);
});

it("a mirrors-only change rewrites hosts.toml without a restart; a dropped mirror's file goes", () => {
  apply([MIRROR, GCR]);
  const { report } = apply([GCR]);
  expect(report.written).toEqual([]);
  expect(report.removed).toEqual([join(node.paths.hostsDir, "docker.io/hosts.toml")]);
  expect(existsSync(join(node.paths.hostsDir, "docker.io"))).toBe(true); // directory entry stays until removal
  const changed = apply([{ ...GCR, endpoints: [{ url: "https://other.internal" }] }]);
  expect(changed.report.written).toEqual([join(node.paths.hostsDir, "gcr.io/hosts.toml")]);
  expect(node.restarts()).toBe(1);
});

it("removal restores config.toml byte for byte, restores a hosts.toml that existed before, and removes created dirs", () => {
  const foreign = join(node.paths.hostsDir, "docker.io/hosts.toml");
  mkdirSync(join(node.paths.hostsDir, "docker.io"), { recursive: true });
  writeFileSync(foreign, 'server = "https://hand-written"\n', { mode: 0o644 });
  apply([MIRROR, GCR]);
  expect(readFileSync(foreign, "utf8")).not.toContain("hand-written");
  // The runtime "answers" at once: without this the default health check (containerd's socket) never passes here.
  const r = node.remove();
  expect(r.status).toBe(0);
  expect(r.stderr).toBe("");
  expect(readFileSync(node.paths.containerdConfig, "utf8")).toBe(LIVE);
  expect(readFileSync(foreign, "utf8")).toBe('server = "https://hand-written"\n');
  expect(existsSync(join(node.paths.hostsDir, "gcr.io"))).toBe(false);
  expect(existsSync(node.stateDir)).toBe(false);
  expect(node.restarts()).toBe(2);
});

it("removal leaves a config.toml someone else changed since, and says so", () => {
  apply([MIRROR]);
  writeFileSync(node.paths.containerdConfig, `${readFileSync(node.paths.containerdConfig, "utf8")}# changed by a person\n`);
  const r = node.remove();
  expect(r.status).toBe(0);
  expect(r.stdout).toContain("RM-WARNING");
  expect(readFileSync(node.paths.containerdConfig, "utf8")).toContain("# changed by a person");
});

it("compare-and-swap: a config.toml changed between read and write stops the run before anything is written", () => {
  const { cmd } = node.shippedApply([MIRROR]);
  writeFileSync(node.paths.containerdConfig, `${LIVE}# edited behind our back\n`);
  const r = node.run(cmd.command, cmd.stdin);
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/node node-a: step cas: .*config.toml changed since it was read/);
  expect(existsSync(node.paths.hostsDir)).toBe(false);
  expect(readFileSync(node.paths.containerdConfig, "utf8")).toBe(`${LIVE}# edited behind our back\n`);
});

it("compare-and-swap also guards a plan that leaves config.toml alone: a read older than the file is refused, naming the re-read", () => {
  apply([MIRROR]);
  // A later plan from the same (now outdated) read: config.toml is already right, so the plan does not write it.
  const read = node.read();
  const { plan, cmd } = node.shippedApply([GCR], { read, target: { reread: "pulumi up --replace 'urn:…::mirrors-node-a-read'" } });
  expect(plan.mainConfig).toBeUndefined();
  writeFileSync(node.paths.containerdConfig, `${read.mainConfig!.content}# edited by hand\n`);
  const r = node.run(cmd.command, cmd.stdin);
  expect(r.status).not.toBe(0);
  expect(r.stderr).toContain("step cas: ");
  expect(r.stderr).toContain("Read the node again to plan from the current file: pulumi up --replace 'urn:…::mirrors-node-a-read'");
  expect(existsSync(join(node.paths.hostsDir, "gcr.io/hosts.toml"))).toBe(false);
});

it("keeps its state root's alone and removes what a killed run left (its bundle of secrets, its staged copies)", () => {
  // A run killed with SIGKILL (a dropped connection alone does not stop a run) leaves its directory behind.
  mkdirSync(join(node.stateDir, "run.999999"), { recursive: true });
  writeFileSync(join(node.stateDir, "run.999999", "stdin"), "RM-FILE x\nsecret-bundle\n");
  const staged = join(node.paths.hostsDir, "quay.io/hosts.toml");
  mkdirSync(join(node.paths.hostsDir, "quay.io"), { recursive: true });
  writeFileSync(`${staged}.rm-new`, "secret-staged\n");
  writeFileSync(join(node.stateDir, "run.999999", "tmps"), `${staged}\n`);
  const { result } = apply([MIRROR]);
  expect(result.status).toBe(0);
  expect(existsSync(join(node.stateDir, "run.999999"))).toBe(false);
  expect(existsSync(`${staged}.rm-new`)).toBe(false);
  expect(statSync(node.stateDir).mode & 0o777).toBe(0o700);
  expect(statSync(join(node.stateDir, "backup")).mode & 0o777).toBe(0o700);
  expect(statSync(join(node.stateDir, "manifest")).mode & 0o777).toBe(0o600);
  // Directories it creates for the runtime stay readable (the runtime may read them as another user).
  expect(statSync(join(node.paths.hostsDir, "docker.io")).mode & 0o777).toBe(0o755);
});

it("a plan with no files removes every file the last one owned (the keep-list of an empty plan is empty)", () => {
  apply([MIRROR, GCR]);
  // e.g. a Docker mirror losing its caCert, or a node whose main config is already right and mirrors: [].
  const empty = { files: [], mainConfig: undefined, action: "none" as const, warnings: [] };
  const { result: r } = node.runShippedApply([], { plan: empty });
  expect(r.status).toBe(0);
  expect(existsSync(join(node.paths.hostsDir, "docker.io/hosts.toml"))).toBe(false);
  expect(existsSync(join(node.paths.hostsDir, "gcr.io/hosts.toml"))).toBe(false);
  expect(parseApplyOutput(r.stdout).removed.sort()).toEqual([
    join(node.paths.hostsDir, "docker.io/hosts.toml"),
    join(node.paths.hostsDir, "gcr.io/hosts.toml"),
  ]);
  // config.toml stays owned, so removal still restores it.
  expect(readFileSync(join(node.stateDir, "manifest"), "utf8")).toMatch(new RegExp(`^m ${node.paths.containerdConfig} `, "m"));
  expect(node.remove().status).toBe(0);
  expect(readFileSync(node.paths.containerdConfig, "utf8")).toBe(LIVE);
});

describe("one run at a time on a node", () => {
  const lock = () => `${node.stateDir}.lock`;

  it("a run waits for a live one and, after the bounded wait, fails naming the lock; nothing is written", () => {
    const holder = spawn("sleep", ["30"]);
    try {
      mkdirSync(lock());
      writeFileSync(join(lock(), "pid"), `${holder.pid}\n`);
      const { cmd } = node.shippedApply([MIRROR], { target: { lockTimeoutSeconds: 2 } });
      const t0 = Date.now();
      const r = node.run(cmd.command, cmd.stdin);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(2000);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(
        `node node-a: step lock: another registry-mirrors run (pid ${holder.pid}) has held ${lock()} for 2 s; nothing was written`,
      );
      expect(existsSync(node.paths.hostsDir)).toBe(false);
      expect(readFileSync(node.paths.containerdConfig, "utf8")).toBe(LIVE);
      expect(existsSync(lock())).toBe(true); // still the other run's
    } finally {
      holder.kill();
    }
  });

  it("a lock left by a run that died is taken over, and released at the end", () => {
    mkdirSync(lock());
    writeFileSync(join(lock(), "pid"), "999999\n");
    expect(apply([MIRROR]).result.status).toBe(0);
    expect(existsSync(lock())).toBe(false);
    expect(node.remove().status).toBe(0);
    expect(existsSync(lock())).toBe(false);
  });

  it("two applies started together both succeed, one after the other, and leave one consistent state", async () => {
    const read = node.read();
    const cmds = [[MIRROR], [MIRROR, GCR]].map(
      (mirrors) => node.shippedApply(mirrors, { read, target: { control: { healthCheck: "sleep 1" } } }).cmd,
    );
    const results = await Promise.all(cmds.map((c) => node.runAsync(c.command, c.stdin)));
    expect(results.map((r) => [r.status, r.stderr])).toEqual([
      [0, ""],
      [0, ""],
    ]);
    // Whichever ran second wrote last; its manifest names exactly its files, and nothing else of ours is on disk.
    const manifest = readFileSync(join(node.stateDir, "manifest"), "utf8");
    const owned = manifest
      .split("\n")
      .filter((l) => l.startsWith("f "))
      .map((l) => l.split(" ")[1])
      .sort();
    const onDisk = readdir(node.paths.hostsDir)
      .filter((f) => f.endsWith("hosts.toml"))
      .sort();
    expect(onDisk).toEqual(owned);
    expect(readdir(node.root).filter((f) => f.includes(".rm-new") || /\/run\.\d+$/.test(f))).toEqual([]);
    expect(existsSync(lock())).toBe(false);
  }, 60_000);
});

it("a runtime that does not come back: previous files restored, runtime restarted again, clear error", () => {
  const { result } = apply([MIRROR], { healthy: false });
  expect(result.status).not.toBe(0);
  expect(result.stderr).toMatch(/node node-a: step restart: containerd did not answer within 2 s after restart.*previous files were restored/s);
  expect(readFileSync(node.paths.containerdConfig, "utf8")).toBe(LIVE);
  expect(existsSync(join(node.paths.hostsDir, "docker.io/hosts.toml"))).toBe(false);
  expect(node.restarts()).toBe(2);
  // The next (healthy) run converges from the restored state.
  expect(apply([MIRROR]).report.action).toBe("restart");
});

it("values that reach the shell cannot inject commands", () => {
  const evil: NodeTarget = { ...node.target, node: "n'; touch /tmp/rm-injected-$$; echo '" };
  const r = node.run(readCommand(evil, node.paths, "containerd"));
  expect(r.status).toBe(0);
  expect(execFileSync("sh", ["-c", "ls /tmp | grep -c rm-injected || true"], { encoding: "utf8" }).trim()).toBe("0");
});

function readdir(dir: string): string[] {
  return execFileSync("find", [dir], { encoding: "utf8" }).split("\n");
}

describe("the apply's command and its stdin", () => {
  it("refuse files embedded in the command that differ from the plan (content, mode) or are not in it", () => {
    const plan = renderNodeConfig({ mirrors: [GCR], runtime: { kind: "containerd", version: "1.6.20" }, liveConfig: LIVE, paths: node.paths });
    const [hosts] = plan.files;
    const read = { path: node.paths.containerdConfig, sha256: sha256(LIVE) };
    expect(() => applyStdin(plan, read, plan.files)).not.toThrow();
    expect(() => applyStdin(plan, read, [{ ...hosts, content: `${hosts.content}# other\n` }])).toThrow(
      /is embedded in the apply command with other content or mode than the plan/,
    );
    expect(() => applyStdin(plan, read, [{ ...hosts, mode: 0o600 }])).toThrow(/with other content or mode/);
    expect(() => applyStdin(plan, read, [{ ...hosts, path: join(node.paths.hostsDir, "quay.io/hosts.toml") }])).toThrow(/but not in the plan/);
  });
});

describe("runtime: auto", () => {
  const detect = () => parseReadOutput(node.run(readCommand(node.target, node.paths)).stdout);

  it("finds the runtime in the table's detection order: CRI-O before containerd, whose config it then reads", () => {
    expect(which("containerd")).toBe(true); // the lab's containerd is on this machine's PATH
    expect(detect()).toMatchObject({ runtime: { kind: "containerd" }, mainConfig: { path: node.paths.containerdConfig, content: LIVE } });
    writeFileSync(join(node.root, "bin/crio"), "#!/bin/sh\necho 'crio version 1.29.1'\n");
    chmodSync(join(node.root, "bin/crio"), 0o755);
    const crio = detect();
    expect(crio.runtime).toEqual({ kind: "cri-o", version: "1.29.1" });
    expect(crio.mainConfig).toBeUndefined(); // CRI-O has no main config this tool edits
  });
});

function which(bin: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${bin}`]).status === 0;
}
