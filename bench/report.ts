/** Types of the benchmark results and the RESULTS.md writer (medians and ratios ours / Ansible). */

export interface RunRecord {
  tool: string; // "pulumi" | "pulumi-staged" | "ansible" | "ansible-pipelining" | "ssh-floor"
  /** `floor`: one plain `ssh node true` to every node at once (tool "ssh-floor"). */
  phase: "first" | "noop" | "change" | "floor";
  rep: number;
  nodes: number;
  wallMs: number;
  peakTreeRssKb: number;
  peakProgramRssKb: number;
  peakProcs: number;
  /** Peak RSS sum per role (program, provider, engine, ssh, controller, forks, other); absent in older results. */
  peakByRoleKb?: Record<string, number>;
  /** Per node: new "Accepted publickey" lines (SSH connections/authentications). */
  conns: number[];
  /** Per node: new "Starting session" lines (SSH session channels: commands, sftp, env probes). */
  sessions: number[];
  /** Per node: runtime restarts (lab systemctl log). */
  restarts: number[];
  problems: string[];
  summary: string;
}

export interface SizeResult {
  nodes: number;
  labStartupMs: number;
  runs: RunRecord[];
}

export interface BenchResults {
  machine: Record<string, string>;
  settings: Record<string, unknown>;
  sizes: SizeResult[];
}

const PHASES: Exclude<RunRecord["phase"], "floor">[] = ["first", "noop", "change"];
const PHASE_NAME: Record<RunRecord["phase"], string> = {
  first: "first install",
  noop: "no-op re-run",
  change: "mirrors-only change",
  floor: "`ssh node true` to every node at once",
};
const TOOLS = ["pulumi", "pulumi-staged", "pulumi-nochecks", "pulumi-proof", "ansible", "ansible-pipelining"];
const TOOL_NAME: Record<string, string> = {
  pulumi: "RegistryMirrors (pulumi up)",
  "pulumi-staged": "RegistryMirrors, maxParallelRestarts 1",
  "pulumi-nochecks": "RegistryMirrors, probe off, effectiveConfig false",
  "pulumi-proof": "RegistryMirrors with verify.pull",
  ansible: "Ansible, Debian defaults",
  "ansible-pipelining": "Ansible, pipelining=True",
  "ssh-floor": "ssh floor",
};

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const sec = (ms: number) => (Number.isNaN(ms) ? "–" : `${(ms / 1000).toFixed(2)} s`);
const mib = (kb: number) => (Number.isNaN(kb) ? "–" : `${(kb / 1024).toFixed(0)} MiB`);
const ratio = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) || b === 0 ? "–" : `${(a / b).toFixed(2)}×`);

/** "2" when every node and run saw the same number, else "min–max". */
function perNode(runs: RunRecord[], key: "conns" | "sessions" | "restarts"): string {
  const all = runs.flatMap((r) => r[key]);
  if (all.length === 0) return "–";
  const lo = Math.min(...all),
    hi = Math.max(...all);
  return lo === hi ? String(lo) : `${lo}–${hi}`;
}

function role(rs: RunRecord[], name: string): string {
  const xs = rs.flatMap((r) => (r.peakByRoleKb && r.peakByRoleKb[name] !== undefined ? [r.peakByRoleKb[name]] : []));
  return xs.length ? mib(median(xs)) : "–";
}

function select(s: SizeResult, tool: string, phase: string): RunRecord[] {
  return s.runs.filter((r) => r.tool === tool && r.phase === phase);
}

export interface Headline {
  nodes: number;
  phase: string;
  pulumiMs: number;
  ansibleMs: number;
  floorMs: number;
  ratio: number;
}

/** Median wall time of the ssh floor of a size. */
function floorMs(s: SizeResult): number {
  return median(select(s, "ssh-floor", "floor").map((r) => r.wallMs));
}

export function headlines(res: BenchResults): Headline[] {
  return res.sizes.flatMap((s) =>
    PHASES.map((p) => {
      const a = median(select(s, "pulumi", p).map((r) => r.wallMs));
      const b = median(select(s, "ansible", p).map((r) => r.wallMs));
      return { nodes: s.nodes, phase: PHASE_NAME[p], pulumiMs: a, ansibleMs: b, floorMs: floorMs(s), ratio: a / b };
    }),
  );
}

export function sizeTables(s: SizeResult): string {
  const out: string[] = [];
  out.push(`### ${s.nodes} node${s.nodes === 1 ? "" : "s"}`, "");
  out.push(
    "Wall time, median (min–max) over the repetitions, n = number of runs; ratio = RegistryMirrors / Ansible, < 1 means we are faster; / floor = a tool's time over the ssh floor's (one `ssh node true` to every node at once).",
    "",
  );
  const floorRuns = select(s, "ssh-floor", "floor").map((r) => r.wallMs);
  if (floorRuns.length)
    out.push(`ssh floor: ${sec(median(floorRuns))} (${sec(Math.min(...floorRuns))}–${sec(Math.max(...floorRuns))}, n=${floorRuns.length}).`, "");
  out.push(
    "| phase | RegistryMirrors | / floor | Ansible (defaults) | / floor | ratio | Ansible (pipelining) | ratio |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const p of PHASES) {
    const cell = (tool: string) => {
      const xs = select(s, tool, p).map((r) => r.wallMs);
      if (xs.length === 0) return "–";
      return `${sec(median(xs))} (${sec(Math.min(...xs))}–${sec(Math.max(...xs))}, n=${xs.length})`;
    };
    const m = (tool: string) => median(select(s, tool, p).map((r) => r.wallMs));
    out.push(
      `| ${PHASE_NAME[p]} | ${cell("pulumi")} | ${ratio(m("pulumi"), floorMs(s))} | ${cell("ansible")} | ${ratio(m("ansible"), floorMs(s))} | ${ratio(m("pulumi"), m("ansible"))} | ${cell("ansible-pipelining")} | ${ratio(m("pulumi"), m("ansible-pipelining"))} |`,
    );
  }
  const staged = select(s, "pulumi-staged", "first").map((r) => r.wallMs);
  if (staged.length) {
    out.push(
      "",
      `First install with the component's default rollout (\`maxParallelRestarts: 1\`, one runtime restart at a time): ${sec(median(staged))} (n=${staged.length}), ${ratio(median(staged), median(select(s, "ansible", "first").map((r) => r.wallMs)))} of Ansible's (which restarts every node at once).`,
    );
  }
  const checks = (tool: string, p: RunRecord["phase"]) => median(select(s, tool, p).map((r) => r.wallMs));
  if (select(s, "pulumi-nochecks", "first").length) {
    const row = (p: RunRecord["phase"]) =>
      `| ${PHASE_NAME[p]} | ${sec(checks("pulumi-nochecks", p))} | ${sec(checks("pulumi", p))} (${ratio(checks("pulumi", p), checks("pulumi-nochecks", p))}) | ${sec(checks("pulumi-proof", p))} (${ratio(checks("pulumi-proof", p), checks("pulumi-nochecks", p))}) |`;
    out.push(
      "",
      "What the checks on each node cost (first repetition; ratios to the run without checks):",
      "",
      "| phase | probe off, effectiveConfig false | defaults (probe + the runtime's view) | defaults + verify.pull |",
      "| --- | --- | --- | --- |",
      row("first"),
      row("change"),
    );
  }
  out.push(
    "",
    "Per node and run: SSH connections (`Accepted publickey`) / SSH session channels (`Starting session`) / runtime restarts, from each node's sshd and systemctl logs (a range = min–max over nodes and runs). Peak memory: median over runs of the peak RSS sum of the whole process tree, of the Node.js process running the Pulumi program / of the ansible-playbook controller, and per role (provider = pulumi-resource-command, engine = pulumi CLI + language host).",
    "",
  );
  out.push(
    "| phase | tool | SSH conns/node | SSH sessions/node | restarts/node | peak tree RSS | peak program RSS | provider RSS | engine RSS | peak processes |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const p of [...PHASES, "floor" as const]) {
    for (const tool of [...TOOLS, "ssh-floor"]) {
      const rs = select(s, tool, p);
      if (rs.length === 0) continue;
      out.push(
        `| ${PHASE_NAME[p]} | ${TOOL_NAME[tool]} | ${perNode(rs, "conns")} | ${perNode(rs, "sessions")} | ${perNode(rs, "restarts")} | ${mib(median(rs.map((r) => r.peakTreeRssKb)))} | ${mib(median(rs.map((r) => r.peakProgramRssKb)))} | ${role(rs, "provider")} | ${role(rs, "engine")} | ${median(rs.map((r) => r.peakProcs))} |`,
      );
    }
  }
  out.push("");
  return out.join("\n");
}

export function writeResultsMd(res: BenchResults, jsonRel: string, extra = ""): string {
  const m = res.machine;
  const lines: string[] = [];
  lines.push("# Benchmark: RegistryMirrors (real Pulumi engine) vs. an Ansible playbook", "");
  lines.push(`Run ${m.date} by \`npm run bench\` (bench/run.ts). Raw numbers: [${jsonRel}](${jsonRel}).`, "");
  lines.push("## Machine", "");
  for (const [k, v] of Object.entries(m)) if (k !== "date") lines.push(`- ${k}: ${v}`);
  lines.push(`- settings: ${JSON.stringify(res.settings)}`, "");
  lines.push("## Headline (median wall time)", "");
  lines.push("ssh floor = one plain `ssh node true` to every node at once, the least any SSH-based tool can cost.", "");
  lines.push(
    "| nodes | phase | RegistryMirrors | Ansible (defaults) | ours / Ansible | ssh floor | ours / floor | Ansible / floor |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const h of headlines(res))
    lines.push(
      `| ${h.nodes} | ${h.phase} | ${sec(h.pulumiMs)} | ${sec(h.ansibleMs)} | ${ratio(h.pulumiMs, h.ansibleMs)} | ${sec(h.floorMs)} | ${ratio(h.pulumiMs, h.floorMs)} | ${ratio(h.ansibleMs, h.floorMs)} |`,
    );
  lines.push("");
  if (extra) lines.push(extra, "");
  lines.push(METHOD, "");
  lines.push("## Results per size", "");
  for (const s of res.sizes) lines.push(sizeTables(s));
  return lines.join("\n");
}

export const METHOD = `## Method

- **Nodes**: lab nodes from \`test/lab\` (\`startLab\`, one lab per size): each an \`sshd\` on 127.0.0.1 in its own mount
  namespace with Debian's containerd 1.6, user \`root\`, the \`default\` config.toml (\`version = 2\`, \`config_path = ""\`).
- **Job** (both tools): two mirrors, \`docker.io\` and \`gcr.io\` → the lab's plain HTTP pull-through mirror; write
  \`/etc/containerd/certs.d/{docker.io,gcr.io}/hosts.toml\`, set \`config_path = "/etc/containerd/certs.d"\`, restart
  containerd when config.toml changed. The **mirrors-only change** adds the namespaced mirror as a second docker.io
  endpoint and replaces gcr.io's mirror (hosts.toml changes only; no restart needed by either tool). Ansible copies the
  very bytes \`renderNodeConfig\` renders for the component. After every run the bench checks each node's files and
  config_path (through the node's namespace, not SSH) and fails if a tool did not do the job.
- **RegistryMirrors**: \`bench/program\` (plain JS, the component compiled from \`src/\` with tsc into the program dir),
  the real \`pulumi\` CLI (\`pulumi up --yes --skip-preview --non-interactive\`, default \`--parallel\` = 8 here), its
  Node.js language host and the real \`pulumi-resource-command\` from the plugin cache of the tools' PULUMI_HOME (all
  built by \`scripts/tools.sh\`; versions above), file backend in a temp dir, \`rollout.maxParallelRestarts\` = number of nodes (same parallelism as
  Ansible's forks). A fresh stack per repetition. Once per size the first install is also run with the default
  \`maxParallelRestarts: 1\`.
- **Ansible**: \`bench/ansible/playbook.yml\` (\`gather_facts: false\`; \`file\` + \`copy\` loops over the mirror hosts,
  \`replace\` for config_path notifying a handler \`command: systemctl restart containerd\` — the lab's systemctl
  script is not systemd, so the \`systemd\`/\`service\` modules are not used), inventory generated from
  \`lab.describe()\` (ansible_host 127.0.0.1, ansible_port, ansible_user, ansible_ssh_private_key_file, the lab's
  known_hosts via \`-o UserKnownHostsFile=… -o StrictHostKeyChecking=yes\`, \`host_key_checking = True\`),
  \`forks\` = number of nodes. "Debian defaults": Debian's ansible-core with its defaults, i.e. \`ssh_args\`
  \`-C -o ControlMaster=auto -o ControlPersist=60s\`, \`pipelining = False\`, interpreter discovery \`auto\`, sftp
  transfers. Variant "pipelining": the same with \`pipelining = True\` (first repetition only). ControlPersist masters
  are closed (\`ssh -O exit\`) before every measured run, so every Ansible run starts cold, as a CI job or a run more
  than 60 s after the previous one would.
- **ssh floor**: one plain \`ssh -T … node true\` to every node at once (\`sh\` starting N \`ssh\` clients in the
  background and waiting for all), with the tools' key, known_hosts and \`StrictHostKeyChecking=yes\`: a connection, key
  exchange, authentication and one session per node, no work. No SSH-based tool can do its job for less.
- **Order** per repetition: reset nodes → RegistryMirrors first install, no-op ×2, mirrors-only change → reset →
  Ansible first, no-op ×2, change → ssh floor → (rep 1) reset → Ansible pipelining first, no-op, change. Reset = original
  config.toml written and certs.d + \`/var/lib/registry-mirrors\` removed through the node's mount namespace, then
  containerd restarted there (no SSH session; counters are deltas around each run anyway).
- **Wall time**: from spawning \`pulumi up\` / \`ansible-playbook\` to its exit (includes engine/interpreter start-up).
- **SSH**: per node, the new lines in its sshd log (\`LogLevel VERBOSE\`) during the run: \`Accepted publickey\` =
  SSH connections (authentications); \`Starting session\` = session channels (each remote command, sftp
  transfer; with ControlPersist several channels share one connection).
- **Restarts**: per node, restarts of containerd in the lab's systemctl log during the run.
- **Memory**: the runner samples \`/proc\` every 100 ms for the process tree of the command it started. "peak tree
  RSS" = largest sum of RSS over the tree at one sample (Pulumi: CLI + Node.js language host + the Node.js program +
  the command provider + its ssh clients; Ansible: ansible-playbook + its forks + ssh clients; shared pages counted
  per process, so it over-states). "peak program RSS" = peak RSS of the Node.js process running the Pulumi program
  (\`@pulumi/pulumi/cmd/run\` under pulumi-language-nodejs) / of the ansible-playbook controller process. "provider"
  = pulumi-resource-command (Go, SSH in-process), "engine" = pulumi CLI + language host. Not \`/usr/bin/time\`:
  its max RSS is the largest single process, not the tree. Detached ControlPersist ssh masters are not in the tree.
- Medians over the repetitions; ratio = RegistryMirrors / Ansible (< 1: we are faster). No test asserts timings.

## Caveats

- **Loopback lab**: every node is an sshd on 127.0.0.1 on the same 2-core machine as both tools, so there is no
  network latency (which favours the tool that opens more sessions: Ansible) and nodes compete with the tool for
  CPU. containerd restarts go through the lab's systemctl script (a real stop/start of containerd, ~0.1 s), far
  faster than a real kubelet node's.
- Ansible ran with \`gather_facts: false\` (many playbooks gather facts, which costs another module run per host)
  and a \`command\` handler; both favour Ansible slightly.
- Other engineers used the machine during the run (a lab is exclusive, but CPU is shared): numbers are noisy; look
  at the ratios and at min–max.
`;
