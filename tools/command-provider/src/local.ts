// local.Command / local.run (provider/pkg/provider/local/commandOutputs.go `run`).
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { Ctx, LineSplitter } from "./context";
import { goQuote } from "./goquote";
import { CommandError, PULUMI_COMMAND_STDERR, PULUMI_COMMAND_STDOUT, ProviderError, RunResult } from "./ssh";

export interface LocalSpec {
  command: string;
  interpreter?: string[];
  dir?: string;
  environment?: Record<string, string>;
  stdin?: string;
  addPreviousOutputInEnv: boolean;
  previousStdout?: string;
  previousStderr?: string;
  logStdout: boolean;
  logStderr: boolean;
}

/** exec.LookPath-style error text for a program that cannot be started. */
function startError(prog: string, e: NodeJS.ErrnoException): string {
  if (!prog.includes("/") && e.code === "ENOENT") return `exec: ${goQuote(prog)}: executable file not found in $PATH`;
  const why = e.code === "ENOENT" ? "no such file or directory" : e.code === "EACCES" ? "permission denied" : e.message;
  return `fork/exec ${prog}: ${why}`;
}

export async function runLocal(ctx: Ctx, spec: LocalSpec): Promise<RunResult> {
  const argv = spec.interpreter && spec.interpreter.length > 0 ? [...spec.interpreter] : ["/bin/sh", "-c"];
  argv.push(spec.command);
  const cwd = spec.dir ?? process.cwd();
  if (!fs.existsSync(cwd)) throw new ProviderError(`chdir ${cwd}: no such file or directory`);
  const env: NodeJS.ProcessEnv = { ...process.env, ...(spec.environment ?? {}) };
  if (spec.addPreviousOutputInEnv) {
    if (spec.previousStdout) env[PULUMI_COMMAND_STDOUT] = spec.previousStdout;
    if (spec.previousStderr) env[PULUMI_COMMAND_STDERR] = spec.previousStderr;
  }
  const p = spawn(argv[0], argv.slice(1), { cwd: path.resolve(cwd), env, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let both = "";
  const logs: Promise<void>[] = [];
  const lines = new LineSplitter((l) => logs.push(ctx.infoStatus(l)));
  p.stdout.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
    both += d;
    if (spec.logStdout) lines.push(d);
  });
  p.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
    both += d;
    if (spec.logStderr) lines.push(d);
  });
  p.stdin.on("error", () => { /* closed early */ });
  let spawnError: string | undefined;
  p.on("error", (e: NodeJS.ErrnoException) => (spawnError = startError(argv[0], e)));
  if (spec.stdin) p.stdin.end(spec.stdin);
  else p.stdin.end();
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    p.on("close", (c, s) => resolve([c, s])));
  lines.end();
  await Promise.all(logs);
  if (spawnError) throw new CommandError(spawnError, spec.command, both);
  if (code !== 0) {
    throw new CommandError(code === null ? `signal: ${goSignalName(signal)}` : `exit status ${code}`, spec.command, both);
  }
  return { stdout: stdout.replace(/\n$/, ""), stderr: stderr.replace(/\n$/, "") };
}

function goSignalName(s: NodeJS.Signals | null): string {
  const names: Record<string, string> = {
    SIGKILL: "killed", SIGTERM: "terminated", SIGINT: "interrupt", SIGHUP: "hangup", SIGQUIT: "quit",
    SIGABRT: "aborted", SIGSEGV: "segmentation fault", SIGPIPE: "broken pipe", SIGUSR1: "user defined signal 1",
    SIGUSR2: "user defined signal 2", SIGALRM: "alarm clock", SIGBUS: "bus error", SIGFPE: "floating point exception",
  };
  return (s && names[s]) || String(s);
}
