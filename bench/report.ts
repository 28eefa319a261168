/** Types of the benchmark results and the RESULTS.md writer (medians and ratios ours / Ansible). */

export interface RunRecord {
  tool: string; // "pulumi" | "ansible" | "ansible-pipelining"
  phase: "first" | "noop" | "change";
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

export interface SizeResult { nodes: number; labStartupMs: number; runs: RunRecord[] }

export interface BenchResults {
  machine: Record<string, string>;
  settings: Record<string, unknown>;
  sizes: SizeResult[];
}

const PHASES: RunRecord["phase"][] = ["first", "noop", "change"];
const PHASE_NAME: Record<RunRecord["phase"], string> = { first: "first install", noop: "no-op re-run", change: "mirrors-only change" };
const TOOLS = ["pulumi", "pulumi-staged", "ansible", "ansible-pipelining"];
const TOOL_NAME: Record<string, string> = { pulumi: "RegistryMirrors (pulumi up)", "pulumi-staged": "RegistryMirrors, maxParallelRestarts 1", ansible: "Ansible, Debian defaults", "ansible-pipelining": "Ansible, pipelining=True" };

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
  const lo = Math.min(...all), hi = Math.max(...all);
  return lo === hi ? String(lo) : `${lo}–${hi}`;
}

function role(rs: RunRecord[], name: string): string {
  const xs = rs.flatMap((r) => (r.peakByRoleKb && r.peakByRoleKb[name] !== undefined ? [r.peakByRoleKb[name]] : []));
  return xs.length ? mib(median(xs)) : "–";
}

function select(s: SizeResult, tool: string, phase: string): RunRecord[] {
  return s.runs.filter((r) => r.tool === tool && r.phase === phase);
}

export interface Headline { nodes: number; phase: string; pulumiMs: number; ansibleMs: number; ratio: number }

export function headlines(res: BenchResults): Headline[] {
  return res.sizes.flatMap((s) => PHASES.map((p) => {
    const a = median(select(s, "pulumi", p).map((r) => r.wallMs));
    const b = median(select(s, "ansible", p).map((r) => r.wallMs));
    return { nodes: s.nodes, phase: PHASE_NAME[p], pulumiMs: a, ansibleMs: b, ratio: a / b };
  }));
}

export function sizeTables(s: SizeResult): string {
  const out: string[] = [];
  out.push(`### ${s.nodes} node${s.nodes === 1 ? "" : "s"}`, "");
  out.push("Wall time, median (min–max) over the repetitions, n = number of runs; ratio = RegistryMirrors / Ansible (defaults), < 1 means we are faster.", "");
  out.push("| phase | RegistryMirrors | Ansible (defaults) | ratio | Ansible (pipelining) | ratio |", "| --- | --- | --- | --- | --- | --- |");
  for (const p of PHASES) {
    const cell = (tool: string) => {
      const xs = select(s, tool, p).map((r) => r.wallMs);
      if (xs.length === 0) return "–";
      return `${sec(median(xs))} (${sec(Math.min(...xs))}–${sec(Math.max(...xs))}, n=${xs.length})`;
    };
    const m = (tool: string) => median(select(s, tool, p).map((r) => r.wallMs));
    out.push(`| ${PHASE_NAME[p]} | ${cell("pulumi")} | ${cell("ansible")} | ${ratio(m("pulumi"), m("ansible"))} | ${cell("ansible-pipelining")} | ${ratio(m("pulumi"), m("ansible-pipelining"))} |`);
  }
  const staged = select(s, "pulumi-staged", "first").map((r) => r.wallMs);
  if (staged.length) {
    out.push("", `First install with the component's default rollout (\`maxParallelRestarts: 1\`, one runtime restart at a time): ${sec(median(staged))} (n=${staged.length}), ${ratio(median(staged), median(select(s, "ansible", "first").map((r) => r.wallMs)))} of Ansible's (which restarts every node at once).`);
  }
  out.push("", "Per node and run: SSH connections (`Accepted publickey`) / SSH session channels (`Starting session`) / runtime restarts, from each node's sshd and systemctl logs (a range = min–max over nodes and runs). Peak memory: median over runs of the peak RSS sum of the whole process tree, and of the largest single program process (the Node.js program / the largest ansible python process).", "");
  out.push("| phase | tool | SSH conns/node | SSH sessions/node | restarts/node | peak tree RSS | peak program RSS | provider RSS | engine RSS | peak processes |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const p of PHASES) {
    for (const tool of TOOLS) {
      const rs = select(s, tool, p);
      if (rs.length === 0) continue;
      out.push(`| ${PHASE_NAME[p]} | ${TOOL_NAME[tool]} | ${perNode(rs, "conns")} | ${perNode(rs, "sessions")} | ${perNode(rs, "restarts")} | ${mib(median(rs.map((r) => r.peakTreeRssKb)))} | ${mib(median(rs.map((r) => r.peakProgramRssKb)))} | ${role(rs, "provider")} | ${role(rs, "engine")} | ${median(rs.map((r) => r.peakProcs))} |`);
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
  lines.push("| nodes | phase | RegistryMirrors | Ansible (defaults) | ours / Ansible |", "| --- | --- | --- | --- | --- |");
  for (const h of headlines(res)) lines.push(`| ${h.nodes} | ${h.phase} | ${sec(h.pulumiMs)} | ${sec(h.ansibleMs)} | ${ratio(h.pulumiMs, h.ansibleMs)} |`);
  lines.push("");
  if (extra) lines.push(extra, "");
  lines.push("## Results per size", "");
  for (const s of res.sizes) lines.push(sizeTables(s));
  return lines.join("\n");
}
