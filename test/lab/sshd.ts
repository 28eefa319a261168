/**
 * A throwaway sshd on 127.0.0.1 (a port below 32768) with fresh host keys, for tests that need an SSH server that is
 * not a lab node: the provider's own behaviour, a node's impostor, a key scan. Logs at VERBOSE to `log`.
 */
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { freePort } from "./proc";

export interface ThrowawaySshdOptions {
  /** Host key types, the first one's public key is {@link ThrowawaySshd.hostKey}. Default `["ed25519"]`. */
  hostKeyTypes?: string[];
  /** authorized_keys content; without it nobody can log in. */
  authorizedKeys?: string;
  /** More sshd_config lines (e.g. `AcceptEnv …`). */
  extraConfig?: string[];
}

export class ThrowawaySshd {
  port = 0;
  /** The first host key's public key line (`ssh-ed25519 AAAA… comment`). */
  hostKey = "";
  readonly log: string;
  private proc?: ChildProcess;

  /** `dir` holds the keys, the config and the log; the caller owns (and removes) it. */
  constructor(readonly dir: string) {
    this.log = path.join(dir, "sshd.log");
  }

  async start(opts: ThrowawaySshdOptions = {}): Promise<void> {
    const types = opts.hostKeyTypes ?? ["ed25519"];
    for (const t of types) execFileSync("ssh-keygen", ["-q", "-t", t, "-N", "", "-f", path.join(this.dir, `host_${t}`)]);
    this.hostKey = fs.readFileSync(path.join(this.dir, `host_${types[0]}.pub`), "utf8").trim();
    const login = opts.authorizedKeys !== undefined;
    if (login) fs.writeFileSync(path.join(this.dir, "authorized_keys"), opts.authorizedKeys!, { mode: 0o600 });
    this.port = await freePort();
    fs.writeFileSync(
      path.join(this.dir, "sshd_config"),
      [
        "ListenAddress 127.0.0.1",
        `Port ${this.port}`,
        ...types.map((t) => `HostKey ${this.dir}/host_${t}`),
        `PidFile ${this.dir}/sshd.pid`,
        ...(login ? [`AuthorizedKeysFile ${this.dir}/authorized_keys`, "PubkeyAuthentication yes", "PermitRootLogin prohibit-password"] : []),
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "LogLevel VERBOSE",
        ...(opts.extraConfig ?? []),
        "",
      ].join("\n"),
    );
    fs.mkdirSync("/run/sshd", { recursive: true });
    const fd = fs.openSync(this.log, "a");
    this.proc = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", path.join(this.dir, "sshd_config")], { stdio: ["ignore", fd, fd] });
    fs.closeSync(fd);
    const end = Date.now() + 10_000;
    while (!fs.readFileSync(this.log, "utf8").includes("Server listening")) {
      if (Date.now() > end || this.proc.exitCode !== null)
        throw new Error(`sshd in ${this.dir} did not start:\n${fs.readFileSync(this.log, "utf8")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** How many log lines match `what`. */
  count(what: RegExp): number {
    return (fs.readFileSync(this.log, "utf8").match(new RegExp(what.source, "g")) ?? []).length;
  }

  async stop(): Promise<void> {
    if (this.proc && this.proc.exitCode === null) {
      const exited = new Promise((r) => this.proc!.once("exit", r));
      this.proc.kill("SIGTERM");
      await exited;
    }
  }
}
