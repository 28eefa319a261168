/**
 * `npm run bench`: RegistryMirrors under the real Pulumi engine vs. an Ansible playbook doing the same job, on
 * 1, 5 and 20 lab nodes (containerd 1.6, root). Writes bench/results/<stamp>.json and bench/RESULTS.md.
 *
 * Per size, one lab; per repetition, both tools start from pristine nodes (original config.toml, no certs.d,
 * no state dir — reset through the node's mount namespace, which opens no SSH session):
 *   ours:    fresh stack → `pulumi up` (first install) → `pulumi up` (no-op) → mirrors-only change
 *   ansible: first run → no-op re-run → mirrors-only change (Debian defaults; optionally pipelining=True)
 *   floor:   one plain `ssh node true` to every node at once (the least any SSH-based tool can cost)
 * For every run: wall time, SSH connections ("Accepted publickey") and SSH session channels ("Starting session")
 * per node from each node's sshd log, runtime restarts per node (lab systemctl log), peak memory (see memory.ts).
 * The engine is the real one: pulumi CLI, its Node.js language host and pulumi-resource-command from the plugin
 * cache of the tools' PULUMI_HOME (scripts/tools.sh); their versions are recorded with the machine.
 *
 * Once per size (N > 1), the first install also runs with the default rollout (maxParallelRestarts 1).
 * Environment: BENCH_SIZES (default "1,5,20"), BENCH_REPS (default 3), BENCH_NOOP_REPS (extra no-ops per rep,
 * default 1), BENCH_PIPELINING_REPS (default 1, 0 = skip the pipelining variant), BENCH_KEEP=1 (keep temp dir),
 * BENCH_EVENT_LOG=DIR (diagnosis: pulumi up --json, each run's events kept there; the no-op check is skipped).
 * Not a test: nothing here asserts a timing; a run fails only when a tool did not do the job.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { startLab, type Lab, type LabDescription, type NodeSpec } from "../test/lab";
import { renderNodeConfig } from "../src/render";
import { PULUMI, pulumiEnv, requireTools, toolVersions } from "../test/e2e/stack";
import type { Mirror } from "../src/model/types";
import { runMeasured, type Measured } from "./memory";
import { writeResultsMd, type BenchResults, type RunRecord, type SizeResult } from "./report";

/** The version of an installed npm package, from its package.json. */
function packageVersion(name: string): string {
  return (
    JSON.parse(fs.readFileSync(path.join(path.dirname(require.resolve(`${name}/package.json`)), "package.json"), "utf8")) as { version: string }
  ).version;
}

const ROOT = path.resolve(__dirname, "..");
const CERTS_DIR = "/etc/containerd/certs.d";
const CONFIG = "/etc/containerd/config.toml";

const sizes = (process.env.BENCH_SIZES ?? "1,5,20")
  .split(",")
  .map((s) => Number(s.trim()))
  .filter((n) => n > 0);
const reps = Number(process.env.BENCH_REPS ?? 3);
const extraNoops = Number(process.env.BENCH_NOOP_REPS ?? 1);
const pipeliningReps = Number(process.env.BENCH_PIPELINING_REPS ?? 1);

const log = (s: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

function machine(): Record<string, string> {
  const first = (s: string) => s.split("\n")[0].trim();
  const tryRun = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: "utf8" });
    return first((r.stdout || r.stderr || "").trim()) || "unknown";
  };
  const mem = fs.readFileSync("/proc/meminfo", "utf8").match(/MemTotal:\s+(\d+)/);
  const cpu = fs.readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/);
  return {
    date: new Date().toISOString(),
    nproc: String(os.cpus().length),
    cpu: cpu ? cpu[1] : "unknown",
    memory: mem ? `${(Number(mem[1]) / 1024 / 1024).toFixed(1)} GiB` : "unknown",
    kernel: `${os.type()} ${os.release()}`,
    os: tryRun("sh", ["-c", ". /etc/os-release && echo $PRETTY_NAME"]),
    node: process.version,
    ...toolVersions(),
    "@pulumi/pulumi": packageVersion("@pulumi/pulumi"),
    "@pulumi/command": packageVersion("@pulumi/command"),
    ansible: tryRun("ansible", ["--version"]),
    python: tryRun("python3", ["--version"]),
    containerd: tryRun("containerd", ["--version"]),
    openssh: tryRun("ssh", ["-V"]),
  };
}

/** Counters of one node from the lab's logs (no SSH involved). */
interface Counters {
  conns: number;
  sessions: number;
  restarts: number;
}
function counters(lab: Lab, d: LabDescription): Counters[] {
  return d.nodes.map((n) => {
    const log = fs.readFileSync(n.sshdLog, "utf8");
    return {
      conns: (log.match(/Accepted publickey for /g) ?? []).length,
      sessions: (log.match(/Starting session: /g) ?? []).length,
      restarts: lab.restartCount(n.name),
    };
  });
}

function delta(before: Counters[], after: Counters[]): { conns: number[]; sessions: number[]; restarts: number[] } {
  return {
    conns: after.map((a, i) => a.conns - before[i].conns),
    sessions: after.map((a, i) => a.sessions - before[i].sessions),
    restarts: after.map((a, i) => a.restarts - before[i].restarts),
  };
}

function mirrorSets(d: LabDescription): Record<"v1" | "v2", Mirror[]> {
  const mirror = d.registries.mirror.url;
  const ns = d.registries["ns-mirror"].url;
  return {
    v1: [
      { upstream: "docker.io", endpoints: [{ url: mirror }] },
      { upstream: "gcr.io", endpoints: [{ url: mirror }] },
    ],
    // mirrors-only change: a second endpoint for docker.io, gcr.io's mirror replaced
    v2: [
      { upstream: "docker.io", endpoints: [{ url: mirror }, { url: ns }] },
      { upstream: "gcr.io", endpoints: [{ url: ns }] },
    ],
  };
}

/** Puts every node back to its start: original config.toml, no certs.d, no component state; then restarts. */
async function resetNodes(lab: Lab, d: LabDescription, original: Map<string, string>): Promise<void> {
  await Promise.all(
    d.nodes.map(async (n) => {
      lab.writeNodeFile(n.name, CONFIG, original.get(n.name)!);
      const cmd = `rm -rf ${CERTS_DIR} /var/lib/registry-mirrors && systemctl restart containerd`;
      let r = await lab.nsExec(n.name, cmd, { timeoutMs: 60_000 });
      if (r.code !== 0) {
        // seen once (a restart right after a lab wait): retry once, and say so
        log(`reset of ${n.name}: restart failed (${r.code}), retrying; runtime log:\n${lab.journal(n.name, 8)}`);
        await new Promise((res) => setTimeout(res, 1000));
        r = await lab.nsExec(n.name, cmd, { timeoutMs: 60_000 });
      }
      if (r.code !== 0)
        throw new Error(`reset of ${n.name} failed (${r.code}): ${r.stdout}${r.stderr}\n--- runtime log:\n${lab.journal(n.name, 15)}`);
    }),
  );
}

/** Checks the nodes hold `mirrors` (hosts.toml bytes as rendered) and config_path; returns problems. */
function checkNodes(lab: Lab, d: LabDescription, original: Map<string, string>, mirrors: Mirror[]): string[] {
  const problems: string[] = [];
  for (const n of d.nodes) {
    const plan = renderNodeConfig({ mirrors, runtime: { kind: "containerd", version: "1.6.20" }, liveConfig: original.get(n.name) });
    for (const f of plan.files) {
      const got = lab.tryReadNodeFile(n.name, f.path);
      if (got !== f.content) problems.push(`${n.name}: ${f.path} ${got === undefined ? "missing" : "differs"}`);
    }
    const cfg = lab.readNodeFile(n.name, CONFIG);
    if (!/^\s*config_path\s*=\s*["']\/etc\/containerd\/certs\.d["']/m.test(cfg)) problems.push(`${n.name}: config_path not set`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------------- Pulumi side

class PulumiSide {
  readonly prog: string;
  readonly specFile: string;
  readonly env: NodeJS.ProcessEnv;

  constructor(
    readonly tmp: string,
    readonly d: LabDescription,
    readonly maxParallelRestarts: number,
    /** Component arguments beyond the defaults: `probe`, `verify`. */
    readonly checks: Record<string, unknown> = {},
  ) {
    this.prog = path.join(tmp, "prog");
    this.specFile = path.join(tmp, "spec.json");
    fs.mkdirSync(path.join(tmp, "state"), { recursive: true });
    this.env = { ...pulumiEnv(path.join(tmp, "state"), "bench"), REGMIRROR_BENCH_SPEC: this.specFile };
  }

  /** Copies bench/program, links node_modules, compiles src/ into it (once per temp dir). */
  static prepareProgram(prog: string): void {
    fs.mkdirSync(prog, { recursive: true });
    for (const f of ["Pulumi.yaml", "index.js"]) fs.copyFileSync(path.join(__dirname, "program", f), path.join(prog, f));
    fs.writeFileSync(path.join(prog, "package.json"), JSON.stringify({ name: "regmirror-bench", main: "index.js" }));
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(prog, "node_modules"));
    const tsc = path.join(ROOT, "node_modules/.bin/tsc");
    const r = spawnSync(tsc, ["-p", path.join(__dirname, "tsconfig.component.json"), "--outDir", path.join(prog, "component")], { encoding: "utf8" });
    if (!fs.existsSync(path.join(prog, "component/src/index.js"))) throw new Error(`compiling src/ failed:\n${r.stdout}${r.stderr}`);
    if (r.status !== 0) log(`tsc reported errors (output emitted anyway):\n${r.stdout}`);
    // The node agent's shell files live beside the compiled module that reads them (as `npm run build` ships them).
    fs.cpSync(path.join(ROOT, "src/node/agent"), path.join(prog, "component/src/node/agent"), { recursive: true });
  }

  writeSpec(mirrors: Mirror[]): void {
    fs.writeFileSync(
      this.specFile,
      JSON.stringify(
        {
          component: path.join(this.prog, "component/src/index.js"),
          mirrors,
          maxParallelRestarts: this.maxParallelRestarts,
          ...this.checks,
          nodes: this.d.nodes.map((n) => ({
            name: n.name,
            host: n.host,
            port: n.port,
            user: n.user,
            privateKeyPath: n.privateKeyPath,
            hostKey: n.hostKey,
            runtime: "containerd",
          })),
        },
        null,
        2,
      ),
    );
  }

  pulumi(args: string[]): string {
    const r = spawnSync(PULUMI, [...args, "--non-interactive", "--color=never"], {
      cwd: this.prog,
      env: this.env,
      encoding: "utf8",
      maxBuffer: 256 << 20,
    });
    if (r.status !== 0) throw new Error(`pulumi ${args.join(" ")} exited ${r.status}:\n${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  private ups = 0;

  async up(): Promise<Measured> {
    // BENCH_EVENT_LOG=DIR: runs with --json (the engine's events with their timestamps) and keeps each output there.
    const diag = process.env.BENCH_EVENT_LOG;
    const m = await runMeasured(PULUMI, ["up", "--yes", "--skip-preview", "--non-interactive", "--color=never", ...(diag ? ["--json"] : [])], {
      cwd: this.prog,
      env: this.env,
    });
    if (diag) fs.writeFileSync(path.join(diag, `${path.basename(this.tmp)}-${++this.ups}.json`), m.output);
    if (m.code !== 0) throw new Error(`pulumi up exited ${m.code}:\n${m.output.slice(-6000)}`);
    if (m.output.includes("from $PATH")) throw new Error(`pulumi up used a plugin from PATH, not the plugin cache:\n${m.output.slice(-2000)}`);
    return m;
  }
}

// ------------------------------------------------------------------------------------------------------ SSH floor

/**
 * One plain `ssh node true` to every node at once, with the same key, known_hosts and host key checking as the
 * tools: the least an SSH-based tool can cost for one contact per node (connection, key exchange, auth, a session).
 */
async function sshFloor(d: LabDescription): Promise<Measured> {
  const script = d.nodes
    .map(
      (n) =>
        `ssh -T -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${d.knownHostsFile} -i ${n.privateKeyPath} -p ${n.port} ${n.user}@127.0.0.1 true &`,
    )
    .concat(["fail=0; for j in $(jobs -p); do wait $j || fail=1; done; exit $fail"])
    .join("\n");
  const m = await runMeasured("sh", ["-c", script], { cwd: os.tmpdir(), env: process.env });
  if (m.code !== 0) throw new Error(`ssh floor: an ssh exited non-zero:\n${m.output.slice(-2000)}`);
  return m;
}

// --------------------------------------------------------------------------------------------------- Ansible side

class AnsibleSide {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;

  constructor(
    tmp: string,
    readonly d: LabDescription,
    readonly original: Map<string, string>,
    readonly pipelining: boolean,
  ) {
    this.dir = path.join(tmp, pipelining ? "ansible-pipelining" : "ansible");
    fs.mkdirSync(path.join(this.dir, "cp"), { recursive: true });
    const n = d.nodes.length;
    fs.writeFileSync(
      path.join(this.dir, "inventory.ini"),
      [
        "[nodes]",
        ...d.nodes.map(
          (x) => `${x.name} ansible_host=127.0.0.1 ansible_port=${x.port} ansible_user=${x.user} ansible_ssh_private_key_file=${x.privateKeyPath}`,
        ),
        "",
        "[nodes:vars]",
        `ansible_ssh_common_args='-o UserKnownHostsFile=${d.knownHostsFile} -o StrictHostKeyChecking=yes'`,
        "",
      ].join("\n"),
    );
    // Debian defaults except forks (= number of nodes), the control path dir (inside the temp dir, so masters
    // can be closed) and, for the variant, pipelining.
    fs.writeFileSync(
      path.join(this.dir, "ansible.cfg"),
      [
        "[defaults]",
        `inventory = ${path.join(this.dir, "inventory.ini")}`,
        `forks = ${n}`,
        "host_key_checking = True",
        "retry_files_enabled = False",
        `local_tmp = ${path.join(this.dir, "tmp")}`,
        "",
        "[ssh_connection]",
        `control_path_dir = ${path.join(this.dir, "cp")}`,
        `pipelining = ${this.pipelining ? "True" : "False"}`,
        "",
      ].join("\n"),
    );
    this.env = {
      ...process.env,
      ANSIBLE_CONFIG: path.join(this.dir, "ansible.cfg"),
      ANSIBLE_HOME: path.join(this.dir, "home"),
      ANSIBLE_NOCOLOR: "1",
      ANSIBLE_FORCE_COLOR: "0",
    };
  }

  /** Renders the same hosts.toml bytes as the component into files-<tag>/<host>/hosts.toml and a vars file. */
  writeVars(tag: string, mirrors: Mirror[]): string {
    const filesDir = path.join(this.dir, `files-${tag}`);
    const plan = renderNodeConfig({
      mirrors,
      runtime: { kind: "containerd", version: "1.6.20" },
      liveConfig: this.original.get(this.d.nodes[0].name),
    });
    const hosts: string[] = [];
    for (const f of plan.files) {
      const rel = path.relative(CERTS_DIR, f.path);
      if (rel.startsWith("..") || path.basename(rel) !== "hosts.toml") throw new Error(`unexpected planned file ${f.path}`);
      fs.mkdirSync(path.join(filesDir, path.dirname(rel)), { recursive: true });
      fs.writeFileSync(path.join(filesDir, rel), f.content);
      hosts.push(path.dirname(rel));
    }
    const vars = path.join(this.dir, `vars-${tag}.json`);
    fs.writeFileSync(vars, JSON.stringify({ certs_dir: CERTS_DIR, files_dir: filesDir, mirror_hosts: hosts }));
    return vars;
  }

  /** Closes ControlPersist masters left by an earlier run, so each measured run starts cold. */
  closeMasters(): void {
    const cp = path.join(this.dir, "cp");
    for (const s of fs.readdirSync(cp)) {
      spawnSync("ssh", ["-o", `ControlPath=${path.join(cp, s)}`, "-O", "exit", "bench-master"], { stdio: "ignore" });
    }
  }

  async run(vars: string): Promise<Measured> {
    this.closeMasters();
    const m = await runMeasured("ansible-playbook", [path.join(__dirname, "ansible/playbook.yml"), "-e", `bench_vars=${vars}`], {
      cwd: this.dir,
      env: this.env,
    });
    if (m.code !== 0) throw new Error(`ansible-playbook exited ${m.code}:\n${m.output.slice(-6000)}`);
    return m;
  }
}

// ------------------------------------------------------------------------------------------------------- the run

async function measure(
  lab: Lab,
  d: LabDescription,
  tool: string,
  phase: RunRecord["phase"],
  rep: number,
  fn: () => Promise<Measured>,
  check?: () => string[],
): Promise<RunRecord> {
  const before = counters(lab, d);
  const m = await fn();
  // sshd writes its log lines asynchronously; give a closing session a moment to land.
  await new Promise((r) => setTimeout(r, 300));
  const dl = delta(before, counters(lab, d));
  const problems = check ? check() : [];
  const rec: RunRecord = {
    tool,
    phase,
    rep,
    nodes: d.nodes.length,
    wallMs: m.wallMs,
    peakTreeRssKb: m.peakTreeRssKb,
    peakProgramRssKb: m.peakProgramRssKb,
    peakProcs: m.peakProcs,
    peakByRoleKb: m.peakByRoleKb,
    ...dl,
    problems,
    summary: summaryLine(tool, m.output),
  };
  log(
    `${tool} ${phase} #${rep} N=${d.nodes.length}: ${(m.wallMs / 1000).toFixed(2)} s, conns/node ${fmt(dl.conns)}, sessions/node ${fmt(dl.sessions)}, restarts/node ${fmt(dl.restarts)}, peak tree RSS ${(m.peakTreeRssKb / 1024).toFixed(0)} MiB, program RSS ${(m.peakProgramRssKb / 1024).toFixed(0)} MiB — ${rec.summary}${problems.length ? ` PROBLEMS: ${problems.join("; ")}` : ""}`,
  );
  if (problems.length) throw new Error(`${tool} ${phase}: ${problems.join("; ")}`);
  return rec;
}

function fmt(xs: number[]): string {
  const lo = Math.min(...xs),
    hi = Math.max(...xs);
  return lo === hi ? String(lo) : `${lo}–${hi}`;
}

function summaryLine(tool: string, out: string): string {
  if (tool === "ssh-floor") return "every ssh exited 0";
  if (tool === "pulumi") {
    const lines = out.split("\n").map((l) => l.trim());
    const i = lines.findIndex((l) => l === "Resources:");
    return i >= 0
      ? lines
          .slice(i + 1, i + 5)
          .filter((l) => l && !l.startsWith("Duration"))
          .join(", ")
      : "no summary";
  }
  const recap = out.split("\n").filter((l) => /ok=\d+/.test(l));
  const sum = (k: string) => recap.reduce((a, l) => a + Number((l.match(new RegExp(`${k}=(\\d+)`)) ?? [0, 0])[1]), 0);
  return `recap over ${recap.length} hosts: ok=${sum("ok")} changed=${sum("changed")} failed=${sum("failed")} unreachable=${sum("unreachable")}`;
}

async function benchSize(n: number, tmpRoot: string, program: string): Promise<SizeResult> {
  const specs: NodeSpec[] = Array.from({ length: n }, (_, i) => ({ name: `node${i + 1}`, runtime: "containerd", user: "root", config: "default" }));
  log(`starting a lab with ${n} containerd 1.6 nodes`);
  const lab = await startLab({ nodes: specs, waitForOtherLabMs: 900_000 });
  const runs: RunRecord[] = [];
  try {
    const d = lab.describe();
    log(`lab up in ${d.startupMs} ms (${d.dir})`);
    const original = new Map(d.nodes.map((x) => [x.name, lab.readNodeFile(x.name, CONFIG)]));
    const ms = mirrorSets(d);
    const sizeDir = path.join(tmpRoot, `n${n}`);
    const check = (m: Mirror[]) => () => checkNodes(lab, d, original, m);

    const ansible = new AnsibleSide(sizeDir, d, original, false);
    const ansibleVars = { v1: ansible.writeVars("v1", ms.v1), v2: ansible.writeVars("v2", ms.v2) };
    const piped = new AnsibleSide(sizeDir, d, original, true);
    const pipedVars = { v1: piped.writeVars("v1", ms.v1), v2: piped.writeVars("v2", ms.v2) };

    for (let rep = 1; rep <= reps; rep++) {
      // ours: a fresh stack per repetition (the nodes were reset behind the old stack's back)
      await resetNodes(lab, d, original);
      const ours = new PulumiSide(path.join(sizeDir, `pulumi-${rep}`), d, n);
      fs.mkdirSync(ours.tmp, { recursive: true });
      fs.symlinkSync(program, ours.prog);
      ours.pulumi(["stack", "init", `bench-n${n}-r${rep}`]);
      ours.writeSpec(ms.v1);
      runs.push(await measure(lab, d, "pulumi", "first", rep, () => ours.up(), check(ms.v1)));
      for (let k = 0; k < 1 + extraNoops; k++) {
        const r = await measure(lab, d, "pulumi", "noop", rep, () => ours.up(), check(ms.v1));
        if (!process.env.BENCH_EVENT_LOG && (!/\b\d+ unchanged\b/.test(r.summary) || /created|updated|replaced|deleted/.test(r.summary)))
          throw new Error(`pulumi no-op was not a no-op: ${r.summary}`);
        runs.push(r);
      }
      ours.writeSpec(ms.v2);
      runs.push(await measure(lab, d, "pulumi", "change", rep, () => ours.up(), check(ms.v2)));
      ours.pulumi(["stack", "rm", "--yes", "--force"]);

      // ours with the default rollout (maxParallelRestarts 1: one restart at a time), first install only
      if (rep === 1 && n > 1) {
        await resetNodes(lab, d, original);
        const staged = new PulumiSide(path.join(sizeDir, "pulumi-staged"), d, 1);
        fs.mkdirSync(staged.tmp, { recursive: true });
        fs.symlinkSync(program, staged.prog);
        staged.pulumi(["stack", "init", `bench-n${n}-staged`]);
        staged.writeSpec(ms.v1);
        runs.push(await measure(lab, d, "pulumi-staged", "first", rep, () => staged.up(), check(ms.v1)));
        staged.pulumi(["stack", "rm", "--yes", "--force"]);
      }

      // What the checks cost: the same first install and change without the probe and the runtime's view, and with a
      // proof pull of a small image as well (first repetition only).
      if (rep === 1) {
        const image = await lab.pushImage("library/bench-proof");
        const variants: [string, Record<string, unknown>][] = [
          ["pulumi-nochecks", { probe: "off", verify: { effectiveConfig: false } }],
          ["pulumi-proof", { verify: { pull: image.ref } }],
        ];
        for (const [tool, checks] of variants) {
          await resetNodes(lab, d, original);
          const side = new PulumiSide(path.join(sizeDir, tool), d, n, checks);
          fs.mkdirSync(side.tmp, { recursive: true });
          fs.symlinkSync(program, side.prog);
          side.pulumi(["stack", "init", `bench-n${n}-${tool}`]);
          side.writeSpec(ms.v1);
          runs.push(await measure(lab, d, tool, "first", rep, () => side.up(), check(ms.v1)));
          side.writeSpec(ms.v2);
          runs.push(await measure(lab, d, tool, "change", rep, () => side.up(), check(ms.v2)));
          side.pulumi(["stack", "rm", "--yes", "--force"]);
        }
      }

      // Ansible, Debian defaults
      await resetNodes(lab, d, original);
      runs.push(await measure(lab, d, "ansible", "first", rep, () => ansible.run(ansibleVars.v1), check(ms.v1)));
      for (let k = 0; k < 1 + extraNoops; k++)
        runs.push(await measure(lab, d, "ansible", "noop", rep, () => ansible.run(ansibleVars.v1), check(ms.v1)));
      runs.push(await measure(lab, d, "ansible", "change", rep, () => ansible.run(ansibleVars.v2), check(ms.v2)));
      ansible.closeMasters();

      runs.push(await measure(lab, d, "ssh-floor", "floor", rep, () => sshFloor(d)));

      if (rep <= pipeliningReps) {
        await resetNodes(lab, d, original);
        runs.push(await measure(lab, d, "ansible-pipelining", "first", rep, () => piped.run(pipedVars.v1), check(ms.v1)));
        runs.push(await measure(lab, d, "ansible-pipelining", "noop", rep, () => piped.run(pipedVars.v1), check(ms.v1)));
        runs.push(await measure(lab, d, "ansible-pipelining", "change", rep, () => piped.run(pipedVars.v2), check(ms.v2)));
        piped.closeMasters();
      }
    }
    return { nodes: n, labStartupMs: d.startupMs, runs };
  } finally {
    const s = await lab.stop();
    log(`lab stopped (${JSON.stringify({ survivors: s.survivors, removed: s.removed })})`);
  }
}

async function main(): Promise<void> {
  requireTools();
  const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "regmirror-bench-"));
  log(`temp dir ${tmpRoot}; sizes ${sizes.join(",")}, ${reps} repetitions`);
  const program = path.join(tmpRoot, "prog");
  PulumiSide.prepareProgram(program);
  const results: BenchResults = { machine: machine(), settings: { sizes, reps, extraNoops, pipeliningReps }, sizes: [] };
  const outDir = path.join(__dirname, "results");
  fs.mkdirSync(outDir, { recursive: true });
  const stamp = results.machine.date.replace(/[:.]/g, "-");
  const jsonFile = path.join(outDir, `${stamp}.json`);
  try {
    for (const n of sizes) {
      results.sizes.push(await benchSize(n, tmpRoot, program));
      fs.writeFileSync(jsonFile, JSON.stringify(results, null, 2));
    }
  } finally {
    if (process.env.BENCH_KEEP !== "1") fs.rmSync(tmpRoot, { recursive: true, force: true });
  }
  const md = path.join(__dirname, "RESULTS.md");
  fs.writeFileSync(md, writeResultsMd(results, path.relative(__dirname, jsonFile)));
  log(`wrote ${jsonFile} and ${md}`);
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
