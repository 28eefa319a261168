/**
 * Process bookkeeping for the lab: every process is started detached (its own process group), recorded in a pid
 * file under `DIR/pids/`, and carries the environment marker `REGMIRROR_LAB=DIR`, so that `stop` — or the clean-up
 * of a crashed test, or `cli.ts stop --dir DIR` from another process — can find and kill all of them.
 * Every wait here is bounded.
 */
import { spawn, SpawnOptions } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import type { ExecResult } from "./types";

/** Environment variable set on every lab process; its value is the lab directory. */
export const LAB_MARKER = "REGMIRROR_LAB";

/** PATH used for every lab process. */
export const LAB_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export function pidDir(dir: string): string {
  return path.join(dir, "pids");
}

/** Blocking sleep (used by the synchronous exit-time clean-up). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Thrown from a {@link waitFor} check to stop waiting at once (e.g. the process being waited for has died). */
export class FatalWaitError extends Error {}

/** Poll `check` until it returns a truthy value or `timeoutMs` passes (then throw with `what` and the last error). */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs: number,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      if (e instanceof FatalWaitError) throw e;
      lastErr = e;
    }
    if (Date.now() > deadline) {
      const detail = lastErr instanceof Error ? `: ${lastErr.message}` : lastErr ? `: ${String(lastErr)}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await sleep(intervalMs);
  }
}

/**
 * A TCP port on 127.0.0.1 that is free right now (never one of `avoid`), below 32768: the kernel hands out ephemeral
 * ports from 32768 up (ip_local_port_range), so lab services never collide with outgoing connections.
 */
export async function freePort(avoid: Set<number> = new Set()): Promise<number> {
  const LOW = 20000;
  const HIGH = 32767;
  for (let i = 0; i < 200; i++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW + 1));
    if (avoid.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.unref();
      srv.once("error", () => resolve(false));
      srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
    });
    if (free) {
      avoid.add(port);
      return port;
    }
  }
  throw new Error(`no free port found between ${LOW} and ${HIGH}`);
}

/** Whether something accepts TCP connections on 127.0.0.1:port (bounded by `timeoutMs`). */
export function portOpen(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, timeoutMs);
    s.once("connect", () => {
      clearTimeout(t);
      s.destroy();
      resolve(true);
    });
    s.once("error", () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

/** Whether we could bind 127.0.0.1:port ourselves right now. */
export function portBindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

export interface RunOptions {
  timeoutMs?: number;
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * Run a command to completion (never through a shell) and collect its output. The child gets its own process group
 * and the whole group is killed at the time limit (default 60 s). Never throws for a non-zero exit.
 */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }, timeoutMs);
    child.stdout!.on("data", (d: Buffer) => out.push(d));
    child.stderr!.on("data", (d: Buffer) => err.push(d));
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 + (signalNumber(signal) ?? 0) : 1),
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString() + (timedOut ? `\n[lab] killed after ${timeoutMs} ms\n` : ""),
        timedOut,
      });
    });
    child.stdin!.on("error", () => undefined);
    child.stdin!.end(opts.input ?? "");
  });
}

function signalNumber(sig: NodeJS.Signals): number | undefined {
  const m: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return m[sig];
}

/** Like {@link run} but throws (with stderr) on a non-zero exit; returns stdout. */
export async function runOk(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}${r.timedOut ? " (timed out)" : ""}: ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r.stdout;
}

/** Environment for a lab process: minimal, with the marker. */
export function labEnv(dir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: LAB_PATH, LANG: "C.UTF-8", HOME: process.env.HOME ?? "/root", [LAB_MARKER]: dir, ...extra };
}

/**
 * Start a long-running process detached (new session and process group), stdout/stderr appended to `logFile`,
 * record its pid in `DIR/pids/<name>.pid`, and return the pid. The process outlives this Node process.
 */
export function spawnRecorded(
  dir: string,
  name: string,
  cmd: string,
  args: string[],
  logFile: string,
  opts: { env?: Record<string, string>; cwd?: string } = {},
): number {
  const fd = fs.openSync(logFile, "a");
  try {
    const so: SpawnOptions = {
      cwd: opts.cwd ?? dir,
      env: labEnv(dir, opts.env),
      stdio: ["ignore", fd, fd],
      detached: true,
    };
    const child = spawn(cmd, args, so);
    if (!child.pid) throw new Error(`cannot start ${name} (${cmd})`);
    child.on("error", () => undefined);
    child.unref();
    fs.mkdirSync(pidDir(dir), { recursive: true });
    fs.writeFileSync(path.join(pidDir(dir), `${name}.pid`), `${child.pid}\n`);
    return child.pid;
  } finally {
    fs.closeSync(fd);
  }
}

/** Read `DIR/pids/<name>.pid` (undefined if missing). */
export function readPid(dir: string, name: string): number | undefined {
  try {
    const n = parseInt(fs.readFileSync(path.join(pidDir(dir), `${name}.pid`), "utf8").trim(), 10);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** True if the process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/**
 * True if the process belongs to the lab in `dir` (so it is ours, not a reused pid): it carries
 * `REGMIRROR_LAB=<dir>` in its environment, or — for programs that overwrite their environment with a process title,
 * like nginx — its command line names a path inside `dir`.
 */
export function hasMarker(pid: number, dir: string): boolean {
  try {
    const env = fs.readFileSync(`/proc/${pid}/environ`);
    const m = Buffer.from(`${LAB_MARKER}=${dir}\0`);
    if (env.includes(Buffer.concat([Buffer.from("\0"), m])) || env.subarray(0, m.length).equals(m)) return true;
  } catch {
    return false;
  }
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
    return cmd.includes(`${dir}/`);
  } catch {
    return false;
  }
}

/** Start time of a process (clock ticks since boot, /proc/PID/stat field 22), to tell a pid from a reused one. */
export function startTimeOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return parseInt(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19], 10);
  } catch {
    return undefined;
  }
}

function pgidOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return parseInt(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2], 10);
  } catch {
    return undefined;
  }
}

function allPids(): number[] {
  return fs
    .readdirSync("/proc")
    .filter((n) => /^\d+$/.test(n))
    .map((n) => parseInt(n, 10))
    .filter((p) => p !== process.pid);
}

function mntNs(pid: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
}

/**
 * Every live process of the lab in `dir`: recorded pids that still carry the marker, any other process with the
 * marker, and every process inside a mount namespace that one of those holds (ssh sessions, sudo, shims…).
 */
export function labProcesses(dir: string): number[] {
  const found = new Set<number>();
  const pids = allPids();
  for (const p of pids) if (isAlive(p) && hasMarker(p, dir)) found.add(p);
  try {
    for (const f of fs.readdirSync(pidDir(dir))) {
      const p = readPid(dir, f.replace(/\.pid$/, ""));
      if (p && isAlive(p) && hasMarker(p, dir)) found.add(p);
    }
  } catch {
    /* no pid dir */
  }
  // members of the process groups led by lab processes (e.g. nginx workers)
  const groups = new Set([...found]);
  for (const p of pids) {
    if (!found.has(p) && isAlive(p)) {
      const g = pgidOf(p);
      if (g !== undefined && groups.has(g)) found.add(p);
    }
  }
  const own = mntNs(process.pid);
  const namespaces = new Set<string>();
  for (const p of found) {
    const ns = mntNs(p);
    if (ns && ns !== own) namespaces.add(ns);
  }
  if (namespaces.size > 0) {
    for (const p of pids) {
      if (found.has(p) || !isAlive(p)) continue;
      const ns = mntNs(p);
      if (ns && namespaces.has(ns)) found.add(p);
    }
  }
  return [...found];
}

function killTree(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig); // its process group, if it leads one
  } catch {
    /* not a group leader or gone */
  }
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

/** Host mounts (in this process's namespace) at or below `dir`; a healthy lab has none. */
export function mountsUnder(dir: string): string[] {
  const out: string[] = [];
  try {
    for (const line of fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
      const mp = line.split(" ")[4];
      if (mp && (mp === dir || mp.startsWith(dir + "/"))) out.push(mp);
    }
  } catch {
    /* no /proc */
  }
  return out;
}

export interface StopReport {
  /** Processes that were running and got a signal. */
  signalled: number;
  /** Processes still alive afterwards (should be empty). */
  survivors: number[];
  /** Host mounts under the lab dir afterwards (should be empty). */
  mounts: string[];
  /** Whether the directory was removed. */
  removed: boolean;
}

/**
 * Stop everything of the lab in `dir` synchronously (safe in a process `exit` handler): SIGTERM, wait up to
 * `graceMs`, SIGKILL, wait up to 3 s, then remove the directory unless `keepDir`.
 */
export function stopLabDirSync(dir: string, opts: { graceMs?: number; keepDir?: boolean } = {}): StopReport {
  const graceMs = opts.graceMs ?? 5000;
  let procs = labProcesses(dir);
  const signalled = procs.length;
  for (const p of procs) killTree(p, "SIGTERM");
  let deadline = Date.now() + graceMs;
  while (procs.some(isAlive) && Date.now() < deadline) sleepSync(25);
  procs = procs.filter(isAlive).concat(labProcesses(dir).filter((p) => !procs.includes(p)));
  for (const p of procs) killTree(p, "SIGKILL");
  deadline = Date.now() + 3000;
  while (procs.some(isAlive) && Date.now() < deadline) sleepSync(25);
  const survivors = labProcesses(dir);
  const mounts = mountsUnder(dir);
  let removed = false;
  if (!opts.keepDir && survivors.length === 0 && mounts.length === 0) {
    try {
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      removed = !fs.existsSync(dir);
    } catch {
      removed = false;
    }
  }
  return { signalled, survivors, mounts, removed };
}
