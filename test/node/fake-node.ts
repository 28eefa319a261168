/**
 * A node in a temporary directory for the node agent: containerd's config.toml and hosts directory, the state
 * directory and a systemctl that records its calls, all under one root; the agent runs for real with /bin/sh.
 */
import { spawn, spawnSync } from "child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { renderNodeConfig, resolvePaths, type Mirror, type NodePaths, type NodePlan } from "../../src";
import {
  applyCommand,
  applyScript,
  applyStdin,
  ownEntries,
  parseApplyOutput,
  parseReadOutput,
  readCommand,
  removeCommand,
  type ApplyCommand,
  type InstanceOwner,
  type NodeState,
  type NodeTarget,
} from "../../src/node/protocol";

/** A config.toml as an ops team left it. */
export const LIVE_CONFIG = 'version = 2\n# ops team comment\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = ""\n';

/** The shells the agent is run under: what nodes have as /bin/sh (Debian/Ubuntu dash, RHEL bash, Alpine/Talos-like busybox). */
export const SHELLS = { dash: "/usr/bin/dash", bash: "/usr/bin/bash", busybox: "/usr/bin/busybox" } as const;
export type ShellName = keyof typeof SHELLS;

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Options of {@link FakeNode.shippedApply}: everything else is as the component sets it. */
export interface ShippedApplyOptions {
  owner?: InstanceOwner;
  /** The read the plan is rendered from (default: a read now); an earlier one stands for an outdated read. */
  read?: NodeState;
  /** The plan on stdin (default: rendered from `read`). */
  plan?: NodePlan;
  /** Changes to the node target: health check, lock timeout, the re-read hint. */
  target?: Partial<NodeTarget>;
}

export class FakeNode {
  readonly root = mkdtempSync(join(tmpdir(), "rm-agent-"));
  readonly paths: NodePaths = resolvePaths({
    hostsDir: join(this.root, "etc/containerd/certs.d"),
    containerdConfig: join(this.root, "etc/containerd/config.toml"),
  });
  readonly target: NodeTarget = { node: "node-a", sudo: false, stateDir: join(this.root, "state"), control: { healthCheck: "true" } };
  readonly systemctlLog = join(this.root, "systemctl.log");

  /** `shell`: the `sh` of this node (first on PATH, so the agent's `exec sh -c` runs it too). */
  constructor(
    readonly shell: ShellName = "dash",
    live = LIVE_CONFIG,
  ) {
    mkdirSync(join(this.root, "etc/containerd"), { recursive: true });
    writeFileSync(this.paths.containerdConfig, live, { mode: 0o640 });
    mkdirSync(join(this.root, "bin"));
    if (!existsSync(SHELLS[shell])) throw new Error(`${SHELLS[shell]} is missing: run scripts/setup.sh (it installs dash, bash and busybox)`);
    // busybox runs as the applet its link is named after.
    symlinkSync(SHELLS[shell], join(this.root, "bin/sh"));
    writeFileSync(join(this.root, "bin/systemctl"), `#!/bin/sh\necho "$*" >> ${this.systemctlLog}\n`);
    chmodSync(join(this.root, "bin/systemctl"), 0o755);
  }

  get stateDir(): string {
    return this.target.stateDir!;
  }

  hostsToml(upstream: string): string {
    return join(this.paths.hostsDir, upstream, "hosts.toml");
  }

  private env() {
    return { ...process.env, PATH: `${join(this.root, "bin")}:${process.env.PATH}` };
  }

  run(command: string, stdin = ""): RunResult {
    const r = spawnSync(join(this.root, "bin/sh"), ["-c", command], { input: stdin, encoding: "utf8", env: this.env(), timeout: 60_000 });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** Runs a command in the background (for runs that overlap). */
  runAsync(command: string, stdin = ""): Promise<RunResult> {
    return new Promise((resolve) => {
      const child = spawn(join(this.root, "bin/sh"), ["-c", command], { env: this.env() });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      child.on("close", (code) => resolve({ status: code ?? -1, stdout, stderr }));
      child.stdin.end(stdin);
    });
  }

  read(owner?: InstanceOwner) {
    const r = this.run(readCommand({ ...this.target, owner }, this.paths, "containerd"));
    if (r.status !== 0) throw new Error(`the read exited ${r.status}: ${r.stderr}`);
    return parseReadOutput(r.stdout);
  }

  /** The command and stdin of one instance's apply, planned from a read now. */
  applyCommand(mirrors: Mirror[], opts: { owner?: InstanceOwner; healthy?: boolean } = {}) {
    const read = this.read(opts.owner);
    const plan = renderNodeConfig({
      mirrors,
      runtime: { kind: "containerd", version: "1.6.20" },
      liveConfig: read.mainConfig!.content,
      paths: this.paths,
      ownedFiles: ownEntries(read, opts.owner).ownedFiles,
    });
    const cmd = applyCommand({
      ...this.target,
      owner: opts.owner,
      control: { healthCheck: opts.healthy === false ? "false" : "true" },
      healthTimeoutSeconds: 2,
      runtime: "containerd",
      paths: this.paths,
      plan,
      readMain: read.mainConfig,
    });
    return { plan, cmd };
  }

  apply(mirrors: Mirror[], opts: { owner?: InstanceOwner; healthy?: boolean } = {}) {
    const { plan, cmd } = this.applyCommand(mirrors, opts);
    const result = this.run(cmd.command, cmd.stdin);
    return { plan, result, report: parseApplyOutput(result.stdout), cmd };
  }

  /** The plan of one instance's apply, rendered from a read (a read now by default) as the component renders it. */
  plan(mirrors: Mirror[], opts: { owner?: InstanceOwner; read?: NodeState } = {}): NodePlan {
    const read = opts.read ?? this.read(opts.owner);
    return renderNodeConfig({
      mirrors,
      runtime: { kind: "containerd", version: "1.6.20" },
      liveConfig: read.mainConfig?.content,
      paths: this.paths,
      hostsDir: "fixed",
      ownedFiles: ownEntries(read, opts.owner).ownedFiles,
    });
  }

  /**
   * The apply composed as the component ships it: the command embeds the files rendered from the spec alone
   * (`applyScript`), and stdin carries the plan from the read, checked against those files (`applyStdin`).
   */
  shippedApply(mirrors: Mirror[], opts: ShippedApplyOptions = {}): { plan: NodePlan; cmd: ApplyCommand } {
    const read = opts.read ?? this.read(opts.owner);
    const plan = opts.plan ?? this.plan(mirrors, { owner: opts.owner, read });
    const specFiles = renderNodeConfig({ mirrors, runtime: { kind: "containerd" }, paths: this.paths, hostsDir: "fixed" }).files;
    const target = { ...this.target, owner: opts.owner, ...opts.target };
    const command = applyScript({ ...target, healthTimeoutSeconds: 2, runtime: "containerd", paths: this.paths }, specFiles);
    return { plan, cmd: { command, stdin: applyStdin(plan, read.mainConfig, specFiles) } };
  }

  /** Runs {@link shippedApply}'s command. */
  runShippedApply(mirrors: Mirror[], opts: ShippedApplyOptions = {}) {
    const { plan, cmd } = this.shippedApply(mirrors, opts);
    const result = this.run(cmd.command, cmd.stdin);
    return { plan, result, report: parseApplyOutput(result.stdout), cmd };
  }

  remove(owner?: InstanceOwner): RunResult & { report: ReturnType<typeof parseApplyOutput> } {
    const r = this.run(removeCommand({ ...this.target, owner }, "containerd", 2));
    return { ...r, report: parseApplyOutput(r.stdout) };
  }

  /** The manifest's lines (`[]` when there is none). */
  manifest(): string[] {
    const file = join(this.stateDir, "manifest");
    return existsSync(file)
      ? readFileSync(file, "utf8")
          .split("\n")
          .filter((l) => l !== "")
      : [];
  }

  restarts(): number {
    return existsSync(this.systemctlLog)
      ? readFileSync(this.systemctlLog, "utf8")
          .split("\n")
          .filter((l) => l.startsWith("restart")).length
      : 0;
  }

  dispose(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
