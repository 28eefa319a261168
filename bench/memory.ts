/**
 * Runs a command and samples /proc every 100 ms for its process tree (the command and all its descendants that
 * are still attached to it).
 *
 * - peakTreeRssKb: the largest sum of VmRSS over the tree at one sample (pulumi CLI + language host + the Node.js
 *   program + the command provider + its ssh children; for Ansible: ansible-playbook + its forks + ssh). RSS sums
 *   count shared pages once per process, so this over-states the real footprint a little.
 * - peakProgramRssKb: the peak VmRSS of the Node.js process that runs the Pulumi program (command line with
 *   `@pulumi/pulumi/cmd/run`, under pulumi-language-nodejs); for Ansible, of the ansible-playbook controller
 *   process itself (the command we start).
 * - peakByRoleKb: per role, the peak of the role's RSS sum at one sample: `program`, `provider`
 *   (pulumi-resource-command, a Go binary from the plugin cache), `engine` (pulumi CLI + language host), `ssh` (ssh clients),
 *   `controller` / `forks` (ansible-playbook and its worker processes), `other`.
 * Processes that detach (ssh ControlPersist masters) leave the tree and are not counted.
 */
import { spawn } from "child_process";
import * as fs from "fs";

export interface Measured {
  code: number;
  output: string;
  wallMs: number;
  peakTreeRssKb: number;
  peakProgramRssKb: number;
  peakProcs: number;
  peakByRoleKb: Record<string, number>;
}

interface Proc {
  pid: number;
  ppid: number;
  comm: string;
  rssKb: number;
}

function snapshot(): Map<number, Proc[]> {
  const children = new Map<number, Proc[]>();
  for (const e of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${e}/stat`, "utf8");
    } catch {
      continue;
    }
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const f = stat.slice(close + 2).split(" ");
    // fields after comm: state(0) ppid(1) … rss is field 24 overall → index 21 here (pages)
    const p: Proc = { pid: Number(e), ppid: Number(f[1]), comm, rssKb: (Number(f[21]) * 4096) / 1024 };
    const list = children.get(p.ppid) ?? [];
    list.push(p);
    children.set(p.ppid, list);
  }
  return children;
}

function tree(root: number, children: Map<number, Proc[]>): Proc[] {
  const out: Proc[] = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      stack.push(c.pid);
    }
  }
  return out;
}

function commOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

function cmdlineOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
  } catch {
    return "";
  }
}

const cmdlines = new Map<number, string>();
function role(p: Proc, rootPid: number): string {
  if (p.pid === rootPid) return p.comm.startsWith("ansible") ? "controller" : p.comm.startsWith("pulumi") ? "engine" : "other";
  if (p.comm === "ssh") return "ssh";
  if (p.comm.startsWith("ansible")) return "forks";
  // The command provider is a Go binary run from the plugin cache (comm is cut to 15 characters).
  if (p.comm.startsWith("pulumi-resourc")) return "provider";
  if (p.comm.startsWith("pulumi")) return "engine";
  if (p.comm === "node") {
    let c = cmdlines.get(p.pid);
    if (c === undefined || c === "") cmdlines.set(p.pid, (c = cmdlineOf(p.pid)));
    if (c.includes("@pulumi/pulumi/cmd/run")) return "program";
  }
  return "other";
}

function rssOf(pid: number): number {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export function runMeasured(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }, intervalMs = 100): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => chunks.push(b));
    child.stderr.on("data", (b: Buffer) => chunks.push(b));
    let peakTree = 0,
      peakProgram = 0,
      peakProcs = 0;
    const peakByRole: Record<string, number> = {};
    const sample = () => {
      if (!child.pid) return;
      const procs = [{ pid: child.pid, comm: commOf(child.pid), ppid: 0, rssKb: rssOf(child.pid) }, ...tree(child.pid, snapshot())];
      const total = procs.reduce((a, p) => a + p.rssKb, 0);
      peakTree = Math.max(peakTree, total);
      peakProcs = Math.max(peakProcs, procs.length);
      const byRole: Record<string, number> = {};
      for (const p of procs) {
        const r = role(p, child.pid);
        byRole[r] = (byRole[r] ?? 0) + p.rssKb;
        if (r === "program" || r === "controller") peakProgram = Math.max(peakProgram, p.rssKb);
      }
      for (const [r, v] of Object.entries(byRole)) peakByRole[r] = Math.max(peakByRole[r] ?? 0, v);
    };
    const timer = setInterval(sample, intervalMs);
    sample();
    child.on("error", (e) => {
      clearInterval(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearInterval(timer);
      resolve({
        code: code ?? 1,
        output: Buffer.concat(chunks).toString("utf8"),
        wallMs: Number(process.hrtime.bigint() - t0) / 1e6,
        peakTreeRssKb: peakTree,
        peakProgramRssKb: peakProgram,
        peakProcs,
        peakByRoleKb: peakByRole,
      });
    });
  });
}
