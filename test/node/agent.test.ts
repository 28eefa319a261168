/**
 * The node agent, run for real with /bin/sh on this machine against files in a temporary directory (paths and
 * state directory overridden). Restarts and sudo are exercised on lab nodes (test/integration).
 */
import { execFileSync, spawn, spawnSync } from "child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { renderNodeConfig, resolvePaths, type Mirror, type NodePaths } from "../../src";
import { applyCommand, applyStdin, parseApplyOutput, parseReadOutput, readCommand, removeCommand, type NodeTarget } from "../../src/node/protocol";
import { sha256 } from "../../src/node/shell";

let root: string;
let paths: NodePaths;
let target: NodeTarget;
let systemctlLog: string;

const LIVE = 'version = 2\n# ops team comment\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = ""\n';

function run(command: string, stdin = ""): { status: number; stdout: string; stderr: string } {
  const r = spawnSync("/bin/sh", ["-c", command], {
    input: stdin,
    encoding: "utf8",
    env: { ...process.env, PATH: `${join(root, "bin")}:${process.env.PATH}` },
    timeout: 60_000,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function apply(mirrors: Mirror[], opts: { healthy?: boolean } = {}) {
  const read = parseReadOutput(run(readCommand(target, paths, "containerd")).stdout);
  const plan = renderNodeConfig({ mirrors, runtime: { kind: "containerd", version: "1.6.20" }, liveConfig: read.mainConfig!.content, paths });
  const cmd = applyCommand({
    ...target,
    control: { healthCheck: opts.healthy === false ? "false" : "true" },
    healthTimeoutSeconds: 2,
    runtime: "containerd",
    paths,
    plan,
    readMain: read.mainConfig,
  });
  const result = run(cmd.command, cmd.stdin);
  return { plan, result, report: parseApplyOutput(result.stdout), cmd };
}

const MIRROR: Mirror = { upstream: "docker.io", endpoints: [{ url: "http://127.0.0.1:5000", auth: { username: "u", password: "p4ss" } }] };
const GCR: Mirror = { upstream: "gcr.io", endpoints: [{ url: "https://gcr-mirror.internal" }] };

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "rm-agent-"));
  paths = resolvePaths({ hostsDir: join(root, "etc/containerd/certs.d"), containerdConfig: join(root, "etc/containerd/config.toml") });
  target = { node: "node-a", sudo: false, stateDir: join(root, "state") };
  mkdirSync(join(root, "etc/containerd"), { recursive: true });
  writeFileSync(paths.containerdConfig, LIVE, { mode: 0o640 });
  // A systemctl script that records every call.
  mkdirSync(join(root, "bin"));
  systemctlLog = join(root, "systemctl.log");
  writeFileSync(join(root, "bin/systemctl"), `#!/bin/sh\necho "$*" >> ${systemctlLog}\n`);
  chmodSync(join(root, "bin/systemctl"), 0o755);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const restarts = () =>
  existsSync(systemctlLog)
    ? readFileSync(systemctlLog, "utf8")
        .split("\n")
        .filter((l) => l.startsWith("restart")).length
    : 0;

it("reads the runtime's main config and its hash", () => {
  const state = parseReadOutput(run(readCommand(target, paths, "containerd")).stdout);
  expect(state.runtime.kind).toBe("containerd");
  expect(state.mainConfig).toEqual({ path: paths.containerdConfig, sha256: sha256(LIVE), content: LIVE });
  expect(state.manifest).toEqual([]);
});

it("first apply writes files with their modes, edits config.toml keeping its mode, restarts once, and reads back", () => {
  const { result, report, plan } = apply([MIRROR]);
  expect(result.stderr).toBe("");
  expect(result.status).toBe(0);
  const hostsToml = join(paths.hostsDir, "docker.io/hosts.toml");
  expect(readFileSync(hostsToml, "utf8")).toBe(plan.files[0].content);
  expect(statSync(hostsToml).mode & 0o777).toBe(0o600);
  expect(statSync(paths.containerdConfig).mode & 0o777).toBe(0o640);
  expect(readFileSync(paths.containerdConfig, "utf8")).toBe(plan.mainConfig!.content);
  expect(report).toMatchObject({ action: "restart", done: true, written: [hostsToml, paths.containerdConfig] });
  expect(Object.keys(report.readBack).sort()).toEqual([hostsToml, paths.containerdConfig].sort());
  expect(restarts()).toBe(1);
  expect(readdir(root).filter((f) => f.includes(".rm-new"))).toEqual([]);
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
  expect(restarts()).toBe(1);
});

it("a mirrors-only change rewrites hosts.toml without a restart; a dropped mirror's file goes", () => {
  apply([MIRROR, GCR]);
  const { report } = apply([GCR]);
  expect(report.written).toEqual([]);
  expect(report.removed).toEqual([join(paths.hostsDir, "docker.io/hosts.toml")]);
  expect(existsSync(join(paths.hostsDir, "docker.io"))).toBe(true); // directory entry stays until removal
  const changed = apply([{ ...GCR, endpoints: [{ url: "https://other.internal" }] }]);
  expect(changed.report.written).toEqual([join(paths.hostsDir, "gcr.io/hosts.toml")]);
  expect(restarts()).toBe(1);
});

it("removal restores config.toml byte for byte, restores a hosts.toml that existed before, and removes created dirs", () => {
  const foreign = join(paths.hostsDir, "docker.io/hosts.toml");
  mkdirSync(join(paths.hostsDir, "docker.io"), { recursive: true });
  writeFileSync(foreign, 'server = "https://hand-written"\n', { mode: 0o644 });
  apply([MIRROR, GCR]);
  expect(readFileSync(foreign, "utf8")).not.toContain("hand-written");
  // The runtime "answers" at once: without this the default health check (containerd's socket) never passes here.
  const r = run(removeCommand({ ...target, control: { healthCheck: "true" } }, "containerd", 2));
  expect(r.status).toBe(0);
  expect(r.stderr).toBe("");
  expect(readFileSync(paths.containerdConfig, "utf8")).toBe(LIVE);
  expect(readFileSync(foreign, "utf8")).toBe('server = "https://hand-written"\n');
  expect(existsSync(join(paths.hostsDir, "gcr.io"))).toBe(false);
  expect(existsSync(target.stateDir!)).toBe(false);
  expect(restarts()).toBe(2);
});

it("removal leaves a config.toml someone else changed since, and says so", () => {
  apply([MIRROR]);
  writeFileSync(paths.containerdConfig, `${readFileSync(paths.containerdConfig, "utf8")}# changed by a person\n`);
  const r = run(removeCommand({ ...target, control: { healthCheck: "true" } }, "containerd", 2));
  expect(r.status).toBe(0);
  expect(r.stdout).toContain("RM-WARNING");
  expect(readFileSync(paths.containerdConfig, "utf8")).toContain("# changed by a person");
});

it("compare-and-swap: a config.toml changed between read and write stops the run before anything is written", () => {
  const read = parseReadOutput(run(readCommand(target, paths, "containerd")).stdout);
  const plan = renderNodeConfig({
    mirrors: [MIRROR],
    runtime: { kind: "containerd", version: "1.6.20" },
    liveConfig: read.mainConfig!.content,
    paths,
  });
  writeFileSync(paths.containerdConfig, `${LIVE}# edited behind our back\n`);
  const cmd = applyCommand({ ...target, runtime: "containerd", paths, plan, readMain: read.mainConfig });
  const r = run(cmd.command, cmd.stdin);
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/node node-a: step cas: .*config.toml changed since it was read/);
  expect(existsSync(paths.hostsDir)).toBe(false);
  expect(readFileSync(paths.containerdConfig, "utf8")).toBe(`${LIVE}# edited behind our back\n`);
});

it("compare-and-swap also guards a plan that leaves config.toml alone: a read older than the file is refused, naming the re-read", () => {
  apply([MIRROR]);
  // A later plan from the same (now outdated) read: config.toml is already right, so the plan does not write it.
  const read = parseReadOutput(run(readCommand(target, paths, "containerd")).stdout);
  const plan = renderNodeConfig({ mirrors: [GCR], runtime: { kind: "containerd", version: "1.6.20" }, liveConfig: read.mainConfig!.content, paths });
  expect(plan.mainConfig).toBeUndefined();
  writeFileSync(paths.containerdConfig, `${read.mainConfig!.content}# edited by hand\n`);
  const cmd = applyCommand({
    ...target,
    runtime: "containerd",
    paths,
    plan,
    readMain: read.mainConfig,
    reread: "pulumi up --replace 'urn:…::mirrors-node-a-read'",
  });
  const r = run(cmd.command, cmd.stdin);
  expect(r.status).not.toBe(0);
  expect(r.stderr).toContain("step cas: ");
  expect(r.stderr).toContain("Read the node again to plan from the current file: pulumi up --replace 'urn:…::mirrors-node-a-read'");
  expect(existsSync(join(paths.hostsDir, "gcr.io/hosts.toml"))).toBe(false);
});

it("keeps its state root's alone and removes what a killed run left (its bundle of secrets, its staged copies)", () => {
  // A run killed with SIGKILL (a dropped connection alone does not stop a run) leaves its directory behind.
  mkdirSync(join(target.stateDir!, "run.999999"), { recursive: true });
  writeFileSync(join(target.stateDir!, "run.999999", "stdin"), "RM-FILE x\nsecret-bundle\n");
  const staged = join(paths.hostsDir, "quay.io/hosts.toml");
  mkdirSync(join(paths.hostsDir, "quay.io"), { recursive: true });
  writeFileSync(`${staged}.rm-new`, "secret-staged\n");
  writeFileSync(join(target.stateDir!, "run.999999", "tmps"), `${staged}\n`);
  const { result } = apply([MIRROR]);
  expect(result.status).toBe(0);
  expect(existsSync(join(target.stateDir!, "run.999999"))).toBe(false);
  expect(existsSync(`${staged}.rm-new`)).toBe(false);
  expect(statSync(target.stateDir!).mode & 0o777).toBe(0o700);
  expect(statSync(join(target.stateDir!, "backup")).mode & 0o777).toBe(0o700);
  expect(statSync(join(target.stateDir!, "manifest")).mode & 0o777).toBe(0o600);
  // Directories it creates for the runtime stay readable (the runtime may read them as another user).
  expect(statSync(join(paths.hostsDir, "docker.io")).mode & 0o777).toBe(0o755);
});

it("a plan with no files removes every file the last one owned (the keep-list of an empty plan is empty)", () => {
  apply([MIRROR, GCR]);
  const read = parseReadOutput(run(readCommand(target, paths, "containerd")).stdout);
  // e.g. a Docker mirror losing its caCert, or a node whose main config is already right and mirrors: [].
  const empty = { files: [], mainConfig: undefined, action: "none" as const, warnings: [] };
  const cmd = applyCommand({ ...target, runtime: "containerd", paths, plan: empty, readMain: read.mainConfig });
  const r = run(cmd.command, cmd.stdin);
  expect(r.status).toBe(0);
  expect(existsSync(join(paths.hostsDir, "docker.io/hosts.toml"))).toBe(false);
  expect(existsSync(join(paths.hostsDir, "gcr.io/hosts.toml"))).toBe(false);
  expect(parseApplyOutput(r.stdout).removed.sort()).toEqual([
    join(paths.hostsDir, "docker.io/hosts.toml"),
    join(paths.hostsDir, "gcr.io/hosts.toml"),
  ]);
  // config.toml stays owned, so removal still restores it.
  expect(readFileSync(join(target.stateDir!, "manifest"), "utf8")).toMatch(new RegExp(`^m ${paths.containerdConfig} `, "m"));
  expect(run(removeCommand({ ...target, control: { healthCheck: "true" } }, "containerd", 2)).status).toBe(0);
  expect(readFileSync(paths.containerdConfig, "utf8")).toBe(LIVE);
});

describe("one run at a time on a node", () => {
  const lock = () => `${target.stateDir}.lock`;

  it("a run waits for a live one and, after the bounded wait, fails naming the lock; nothing is written", () => {
    const holder = spawn("sleep", ["30"]);
    try {
      mkdirSync(lock());
      writeFileSync(join(lock(), "pid"), `${holder.pid}\n`);
      const read = parseReadOutput(run(readCommand(target, paths, "containerd")).stdout);
      const plan = renderNodeConfig({
        mirrors: [MIRROR],
        runtime: { kind: "containerd", version: "1.6.20" },
        liveConfig: read.mainConfig!.content,
        paths,
      });
      const cmd = applyCommand({ ...target, lockTimeoutSeconds: 2, runtime: "containerd", paths, plan, readMain: read.mainConfig });
      const t0 = Date.now();
      const r = run(cmd.command, cmd.stdin);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(2000);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(
        `node node-a: step lock: another registry-mirrors run (pid ${holder.pid}) has held ${lock()} for 2 s; nothing was written`,
      );
      expect(existsSync(paths.hostsDir)).toBe(false);
      expect(readFileSync(paths.containerdConfig, "utf8")).toBe(LIVE);
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
    expect(run(removeCommand({ ...target, control: { healthCheck: "true" } }, "containerd", 2)).status).toBe(0);
    expect(existsSync(lock())).toBe(false);
  });

  it("two applies started together both succeed, one after the other, and leave one consistent state", async () => {
    const read = parseReadOutput(run(readCommand(target, paths, "containerd")).stdout);
    const cmds = [[MIRROR], [MIRROR, GCR]].map((mirrors) => {
      const plan = renderNodeConfig({ mirrors, runtime: { kind: "containerd", version: "1.6.20" }, liveConfig: read.mainConfig!.content, paths });
      return applyCommand({ ...target, control: { healthCheck: "sleep 1" }, runtime: "containerd", paths, plan, readMain: read.mainConfig });
    });
    const runAsync = (c: { command: string; stdin: string }) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn("/bin/sh", ["-c", c.command], { env: { ...process.env, PATH: `${join(root, "bin")}:${process.env.PATH}` } });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("close", (status) => resolve({ status, stdout, stderr }));
        child.stdin.end(c.stdin);
      });
    const results = await Promise.all(cmds.map(runAsync));
    expect(results.map((r) => [r.status, r.stderr])).toEqual([
      [0, ""],
      [0, ""],
    ]);
    // Whichever ran second wrote last; its manifest names exactly its files, and nothing else of ours is on disk.
    const manifest = readFileSync(join(target.stateDir!, "manifest"), "utf8");
    const owned = manifest
      .split("\n")
      .filter((l) => l.startsWith("f "))
      .map((l) => l.split(" ")[1])
      .sort();
    const onDisk = readdir(paths.hostsDir)
      .filter((f) => f.endsWith("hosts.toml"))
      .sort();
    expect(onDisk).toEqual(owned);
    expect(readdir(root).filter((f) => f.includes(".rm-new") || /\/run\.\d+$/.test(f))).toEqual([]);
    expect(existsSync(lock())).toBe(false);
  }, 60_000);
});

it("a runtime that does not come back: previous files restored, runtime restarted again, clear error", () => {
  const { result } = apply([MIRROR], { healthy: false });
  expect(result.status).not.toBe(0);
  expect(result.stderr).toMatch(/node node-a: step restart: containerd did not answer within 2 s after restart.*previous files were restored/s);
  expect(readFileSync(paths.containerdConfig, "utf8")).toBe(LIVE);
  expect(existsSync(join(paths.hostsDir, "docker.io/hosts.toml"))).toBe(false);
  expect(restarts()).toBe(2);
  // The next (healthy) run converges from the restored state.
  expect(apply([MIRROR]).report.action).toBe("restart");
});

it("values that reach the shell cannot inject commands", () => {
  const evil: NodeTarget = { ...target, node: "n'; touch /tmp/rm-injected-$$; echo '" };
  const r = run(readCommand(evil, paths, "containerd"));
  expect(r.status).toBe(0);
  expect(execFileSync("sh", ["-c", "ls /tmp | grep -c rm-injected || true"], { encoding: "utf8" }).trim()).toBe("0");
});

function readdir(dir: string): string[] {
  return execFileSync("find", [dir], { encoding: "utf8" }).split("\n");
}

describe("the apply's command and its stdin", () => {
  it("refuse files embedded in the command that differ from the plan (content, mode) or are not in it", () => {
    const plan = renderNodeConfig({ mirrors: [GCR], runtime: { kind: "containerd", version: "1.6.20" }, liveConfig: LIVE, paths });
    const [hosts] = plan.files;
    const read = { path: paths.containerdConfig, sha256: sha256(LIVE) };
    expect(() => applyStdin(plan, read, plan.files)).not.toThrow();
    expect(() => applyStdin(plan, read, [{ ...hosts, content: `${hosts.content}# other\n` }])).toThrow(
      /is embedded in the apply command with other content or mode than the plan/,
    );
    expect(() => applyStdin(plan, read, [{ ...hosts, mode: 0o600 }])).toThrow(/with other content or mode/);
    expect(() => applyStdin(plan, read, [{ ...hosts, path: join(paths.hostsDir, "quay.io/hosts.toml") }])).toThrow(/but not in the plan/);
  });
});

describe("runtime: auto", () => {
  const detect = () => parseReadOutput(run(readCommand(target, paths)).stdout);

  it("finds the runtime in the table's detection order: CRI-O before containerd, whose config it then reads", () => {
    expect(which("containerd")).toBe(true); // the lab's containerd is on this machine's PATH
    expect(detect()).toMatchObject({ runtime: { kind: "containerd" }, mainConfig: { path: paths.containerdConfig, content: LIVE } });
    writeFileSync(join(root, "bin/crio"), "#!/bin/sh\necho 'crio version 1.29.1'\n");
    chmodSync(join(root, "bin/crio"), 0o755);
    const crio = detect();
    expect(crio.runtime).toEqual({ kind: "cri-o", version: "1.29.1" });
    expect(crio.mainConfig).toBeUndefined(); // CRI-O has no main config this tool edits
  });
});

function which(bin: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${bin}`]).status === 0;
}
