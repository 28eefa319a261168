// remote.Command's SSH side (provider/pkg/provider/remote/{connection,commandOutputs}.go),
// done with the system OpenSSH client instead of golang.org/x/crypto/ssh:
//
//   Dial      -> one `ssh -M -N` control master per run (connection + authentication), retried
//                like dialWithRetry: retry.Until, 100 ms first wait, x1.5, capped at 5 s,
//                at most dialErrorLimit+1 dials; ConnectTimeout=perDialTimeout.
//   Setenv    -> `SendEnv` on master and sessions, values only in the ssh processes' environment
//                (never on a command line). OpenSSH sends `env` requests with want-reply=0, so a
//                rejection is silent; acceptance is checked with an `env` session over the same
//                connection first: a rejected `environment` entry fails the run, a rejected
//                PULUMI_COMMAND_STDOUT/STDERR only warns, with the real provider's text.
//   Run       -> `ssh -S <master> -T -- host <command>` (no PTY), stdin piped, stdout/stderr
//                captured and streamed to the engine log per `logging`.
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { Ctx, LineSplitter } from "./context";
import { goQuote } from "./goquote";

export const PULUMI_COMMAND_STDOUT = "PULUMI_COMMAND_STDOUT";
export const PULUMI_COMMAND_STDERR = "PULUMI_COMMAND_STDERR";

export interface ConnectionBase {
  host: string;
  port: number;
  user: string;
  password?: string;
  privateKey?: string;
  privateKeyPassword?: string;
  agentSocketPath?: string;
  dialErrorLimit: number;
  perDialTimeout: number;
  hostKey?: string;
}
export interface Connection extends ConnectionBase {
  proxy?: ConnectionBase;
}

export interface RunSpec {
  connection: Connection;
  command: string;
  stdin?: string;
  environment?: Record<string, string>;
  /** previous stdout/stderr, sent as PULUMI_COMMAND_STDOUT/STDERR when non-empty */
  previousStdout?: string;
  previousStderr?: string;
  addPreviousOutputInEnv: boolean;
  logStdout: boolean;
  logStderr: boolean;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

export class ProviderError extends Error {}

const KEY_TYPES = /^(ssh-(rsa|dss|ed25519|ed448)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com|ssh-(rsa|ed25519|dss)-cert-v01@openssh\.com|ecdsa-sha2-nistp(256|384|521)-cert-v01@openssh\.com)$/;

/** ssh.ParseAuthorizedKey: "[options] type base64 [comment]" -> "type base64". */
function parseAuthorizedKey(text: string): string {
  for (const line of text.split(/\r?\n/)) {
    const f = line.trim().split(/\s+/);
    for (let i = 0; i + 1 < f.length; i++) {
      if (KEY_TYPES.test(f[i]) && /^[A-Za-z0-9+/]+={0,2}$/.test(f[i + 1])) return `${f[i]} ${f[i + 1]}`;
    }
  }
  throw new ProviderError("ssh: no key found");
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}


interface Side {
  args: string[];
  env: Record<string, string>;
}

/** ssh options for one hop (target or proxy), writing key/known_hosts/askpass files into dir. */
async function hopOptions(c: ConnectionBase, dir: string, tag: "target" | "proxy"): Promise<Side> {
  const args = ["-F", "/dev/null", "-o", "LogLevel=ERROR", "-o", "CheckHostIP=no", "-o", "UpdateHostKeys=no",
    "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ForwardAgent=no", "-o", "ForwardX11=no",
    "-o", "PreferredAuthentications=publickey,password,keyboard-interactive", "-o", "NumberOfPasswordPrompts=1",
    "-p", String(Math.trunc(c.port)), "-l", c.user];
  const env: Record<string, string> = {};
  if (c.perDialTimeout > 0) args.push("-o", `ConnectTimeout=${c.perDialTimeout}`);

  // Host key: pinned (ssh.FixedHostKey) or not checked at all (ssh.InsecureIgnoreHostKey).
  if (c.hostKey !== undefined && c.hostKey !== null) {
    const key = parseAuthorizedKey(c.hostKey);
    const alias = `pulumi-command-${tag}`;
    const kh = path.join(dir, `known_hosts.${tag}`);
    fs.writeFileSync(kh, `${alias} ${key}\n`, { mode: 0o600 });
    args.push("-o", `HostKeyAlias=${alias}`, "-o", `UserKnownHostsFile=${kh}`, "-o", "StrictHostKeyChecking=yes");
  } else {
    args.push("-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no");
  }

  // Authentication: private key (+ passphrase), password (+ keyboard-interactive), agent.
  if (c.privateKey !== undefined && c.privateKey !== null) {
    const kf = path.join(dir, `id.${tag}`);
    fs.writeFileSync(kf, c.privateKey.endsWith("\n") ? c.privateKey : c.privateKey + "\n", { mode: 0o600 });
    await checkPrivateKey(kf, c.privateKeyPassword !== undefined && c.privateKeyPassword !== null);
    args.push("-o", `IdentityFile=${kf}`);
  } else {
    args.push("-o", `IdentityFile=${path.join(dir, "no-such-identity")}`); // keep ~/.ssh/id_* out
  }
  const agent = c.agentSocketPath ?? (process.env.SSH_AUTH_SOCK || undefined);
  if (agent) {
    await checkAgent(agent);
    args.push("-o", `IdentityAgent=${agent}`, "-o", "IdentitiesOnly=no");
  } else {
    args.push("-o", "IdentityAgent=none", "-o", "IdentitiesOnly=yes");
  }
  const needAskpass = (c.password ?? null) !== null || (c.privateKeyPassword ?? null) !== null;
  if (needAskpass) {
    const ap = path.join(dir, `askpass.${tag}`);
    const pw = `PCMD_${tag.toUpperCase()}_PASSWORD`;
    const kp = `PCMD_${tag.toUpperCase()}_KEYPASS`;
    fs.writeFileSync(ap, `#!/bin/sh\ncase "$1" in\n*passphrase*) printf '%s\\n' "$${kp}" ;;\n*) printf '%s\\n' "$${pw}" ;;\nesac\n`, { mode: 0o700 });
    env[pw] = c.password ?? "";
    env[kp] = c.privateKeyPassword ?? "";
    env[`PCMD_${tag.toUpperCase()}_ASKPASS`] = ap;
    args.push("-o", "BatchMode=no");
  } else {
    args.push("-o", "BatchMode=yes");
  }
  return { args, env };
}

/** ssh.ParsePrivateKey happens before dialing in the real provider: bad keys fail at once. */
async function checkPrivateKey(file: string, havePassphrase: boolean): Promise<void> {
  const r = await exec("ssh-keygen", ["-y", "-P", "", "-f", file], { SSH_ASKPASS_REQUIRE: "never" });
  if (r.code === 0) return;
  const msg = r.stderr.trim();
  if (/incorrect passphrase|passphrase/i.test(msg)) {
    if (havePassphrase) return; // checked by ssh itself through askpass
    throw new ProviderError("ssh: this private key is passphrase protected");
  }
  throw new ProviderError(`ssh: no key found (${msg.replace(new RegExp(file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "g"), "privateKey")})`);
}

async function checkAgent(sock: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = net.connect(sock, () => { s.destroy(); resolve(); });
    s.on("error", (e: NodeJS.ErrnoException) => reject(new ProviderError(`dial unix ${sock}: connect: ${e.code === "ENOENT" ? "no such file or directory" : e.message}`)));
  });
}

interface ExecResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

function exec(cmd: string, args: string[], extraEnv: Record<string, string> = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...extraEnv }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    p.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    p.on("error", (e) => resolve({ code: 127, signal: null, stdout, stderr: stderr + String(e) }));
    p.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Every process started here, so a dying provider can take them along. */
const live = new Set<ChildProcess>();
export function killAll(): void {
  for (const p of live) {
    try { p.kill("SIGKILL"); } catch { /* gone */ }
  }
}

function track(p: ChildProcess): ChildProcess {
  live.add(p);
  p.on("exit", () => live.delete(p));
  return p;
}

class Master {
  constructor(readonly proc: ChildProcess, readonly socket: string) {}
  async close(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.proc.once("exit", () => r()));
    this.proc.kill("SIGTERM");
    const t = setTimeout(() => this.proc.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(t);
  }
}

/** OpenSSH's complaint about a failed dial, in the real provider's words where they map 1:1. */
function dialError(stderr: string): string {
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/.test(stderr)) {
    return "ssh: handshake failed: ssh: host key mismatch";
  }
  const lines = stderr.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
  return lines[lines.length - 1] ?? "";
}

/** One dial: start the control master, wait until its socket exists (= authenticated). */
async function dialOnce(target: Side, host: string, extra: string[], socket: string, env: NodeJS.ProcessEnv): Promise<Master> {
  try { fs.unlinkSync(socket); } catch { /* none */ }
  const args = [...target.args, ...extra, "-M", "-N", "-o", `ControlPath=${socket}`, "-o", "ControlPersist=no", "--", host];
  const p = track(spawn("ssh", args, { env, stdio: ["ignore", "ignore", "pipe"] }));
  let stderr = "";
  p.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  return await new Promise<Master>((resolve, reject) => {
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearInterval(poll);
      if (err) reject(err);
      else resolve(new Master(p, socket));
    };
    const poll = setInterval(() => {
      if (fs.existsSync(socket)) finish();
    }, 5);
    p.on("error", (e) => finish(new Error(`ssh: ${e.message}`)));
    p.on("exit", (code, signal) => {
      // give the stderr pipe a moment to drain
      setImmediate(() => finish(new Error(dialError(stderr) || `ssh exited with ${code ?? signal}`)));
    });
  });
}

/** dialWithRetry (connection.go): retry.Until with 100 ms, x1.5, max 5 s between dials. */
async function dial(ctx: Ctx, spec: RunSpec, target: Side, extra: string[], socket: string, env: NodeJS.ProcessEnv): Promise<Master> {
  const maxAttempts = spec.connection.dialErrorLimit;
  let delay = 100;
  for (let attempt = 0; ; attempt++) {
    try {
      return await dialOnce(target, spec.connection.host, extra, socket, env);
    } catch (e) {
      const dials = attempt + 1;
      if (maxAttempts > -1 && dials > maxAttempts) {
        throw new ProviderError(`after ${attempt} failed attempts: ${(e as Error).message}`);
      }
      await ctx.infoStatus(`Dial ${dials}/${maxAttempts === -1 ? "inf" : maxAttempts} failed: retrying`);
    }
    const err = await ctx.sleep(delay);
    if (err) throw new ProviderError(err);
    delay = Math.min(delay * 1.5, 5000);
  }
}

function muxArgs(spec: RunSpec, socket: string, sendEnv: string[]): string[] {
  return ["-F", "/dev/null", "-o", "LogLevel=ERROR", "-o", `ControlPath=${socket}`, "-o", "ControlMaster=no", ...sendEnv,
    "-T", "-p", String(Math.trunc(spec.connection.port)), "-l", spec.connection.user, "--", spec.connection.host];
}

/** Which of the sent variables reached the remote environment with the value we sent. */
async function probeEnv(spec: RunSpec, socket: string, sendEnv: string[], env: NodeJS.ProcessEnv, vars: [string, string][]): Promise<Set<string> | undefined> {
  const r = await new Promise<ExecResult>((resolve) => {
    const p = track(spawn("ssh", [...muxArgs(spec, socket, sendEnv), "env"], { env, stdio: ["ignore", "pipe", "pipe"] }));
    let stdout = "";
    let stderr = "";
    p.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    p.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    p.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  if (r.code !== 0) return undefined;
  const out = "\n" + r.stdout;
  return new Set(vars.filter(([k, v]) => out.includes(`\n${k}=${v}\n`)).map(([k]) => k));
}

function setenvAdvice(key: string): string {
  return `Unable to set '${key}'. This only works if your SSH server is configured to accept
	these variables via AcceptEnv. Alternatively, if a Bash-like shell runs the command on the remote host, you could
	prefix the command itself with the variables in the form 'VAR=value command'`;
}

/** CommandOutputs.run (remote/commandOutputs.go). */
export async function runRemote(ctx: Ctx, spec: RunSpec): Promise<RunResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pcmd-"));
  fs.chmodSync(dir, 0o700);
  let master: Master | undefined;
  try {
    const target = await hopOptions(spec.connection, dir, "target");
    const env: NodeJS.ProcessEnv = { ...process.env, ...target.env, SHELL: "/bin/sh" };
    delete env.SSH_AUTH_SOCK;
    if (target.env.PCMD_TARGET_ASKPASS) {
      env.SSH_ASKPASS = target.env.PCMD_TARGET_ASKPASS;
      env.SSH_ASKPASS_REQUIRE = "force";
    } else {
      env.SSH_ASKPASS_REQUIRE = "never";
    }
    const extra: string[] = [];
    if (spec.connection.proxy) {
      const proxy = await hopOptions(spec.connection.proxy, dir, "proxy");
      Object.assign(env, proxy.env);
      // ssh runs this as `exec <ProxyCommand>` with $SHELL, hence `env VAR=... ssh`.
      const pre = proxy.env.PCMD_PROXY_ASKPASS
        ? `env SSH_ASKPASS=${shellQuote(proxy.env.PCMD_PROXY_ASKPASS)} SSH_ASKPASS_REQUIRE=force `
        : "env SSH_ASKPASS_REQUIRE=never ";
      const cmd = ["ssh", ...proxy.args, "-o", "ControlMaster=no", "-o", "ControlPath=none", "-W", "%h:%p", "--", spec.connection.proxy.host]
        .map((a) => (a === "%h:%p" ? a : shellQuote(a).replace(/%/g, "%%")))
        .join(" ");
      extra.push("-o", `ProxyCommand=${pre}${cmd}`);
    }

    // Environment: `environment` first (errors), then the previous outputs (warnings).
    const vars: [string, string, "error" | "warning"][] = [];
    for (const [k, v] of Object.entries(spec.environment ?? {})) vars.push([k, v, "error"]);
    if (spec.addPreviousOutputInEnv) {
      if (spec.previousStdout) vars.push([PULUMI_COMMAND_STDOUT, spec.previousStdout, "warning"]);
      if (spec.previousStderr) vars.push([PULUMI_COMMAND_STDERR, spec.previousStderr, "warning"]);
    }
    // Values travel in the environment of the ssh processes (SendEnv), never on a command line.
    const sendEnv: string[] = [];
    const sessionEnv: NodeJS.ProcessEnv = { ...env };
    for (const [k, v] of vars) {
      if (!/^[^\s"'\\*?=!-][^\s"'\\*?=!]*$/.test(k)) {
        throw new ProviderError(`pulumi-resource-command stand-in: cannot send environment variable ${JSON.stringify(k)} with OpenSSH's SendEnv`);
      }
      sendEnv.push("-o", `SendEnv=${k}`);
      sessionEnv[k] = v;
    }
    extra.push(...sendEnv);

    const socket = path.join(dir, "cm");
    master = await dial(ctx, spec, target, extra, socket, env);

    if (vars.length > 0) {
      const accepted = await probeEnv(spec, socket, sendEnv, sessionEnv, vars.map(([k, v]) => [k, v]));
      if (accepted === undefined) {
        await ctx.warning("pulumi-resource-command stand-in: could not list the remote environment with `env`; " +
          "cannot tell whether the SSH server accepted " + vars.map(([k]) => k).join(", "));
      } else {
        for (const [k, , sev] of vars) {
          if (accepted.has(k)) continue;
          if (sev === "error") {
            await ctx.error(setenvAdvice(k));
            throw new ProviderError(`could not set environment variable ${JSON.stringify(k)}: ssh: setenv failed`);
          }
          await ctx.warning(setenvAdvice(k));
        }
      }
    }
    return await session(ctx, spec, socket, sendEnv, sessionEnv);
  } finally {
    if (master) await master.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function session(ctx: Ctx, spec: RunSpec, socket: string, sendEnv: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  const p = track(spawn("ssh", [...muxArgs(spec, socket, sendEnv), spec.command], { env, stdio: ["pipe", "pipe", "pipe"] }));
  let stdout = "";
  let stderr = "";
  let both = "";
  const logs: Promise<void>[] = [];
  const lines = new LineSplitter((l) => logs.push(ctx.infoStatus(l)));
  p.stdout!.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
    both += d;
    if (spec.logStdout) lines.push(d);
  });
  p.stderr!.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
    both += d;
    if (spec.logStderr) lines.push(d);
  });
  p.stdin!.on("error", () => { /* remote closed stdin early */ });
  if (spec.stdin) p.stdin!.end(spec.stdin);
  else p.stdin!.end();
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    p.on("close", (c, s) => resolve([c, s])));
  lines.end();
  await Promise.all(logs);
  if (code !== 0) {
    const status = code === null ? `Process exited with status 255 from signal ${signal}` : `Process exited with status ${code}`;
    throw new CommandError(status, spec.command, both);
  }
  return { stdout: stdout.replace(/\n$/, ""), stderr: stderr.replace(/\n$/, "") };
}

/** `%w: running %q:\n%s` */
export class CommandError extends ProviderError {
  constructor(cause: string, command: string, output: string) {
    super(`${cause}: running ${goQuote(command)}:\n${output}`);
  }
}
