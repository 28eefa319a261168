/**
 * SSH trust: every node (and its bastion) has a pinned host key unless it opts out by name, and a node whose key
 * changed is stopped with both fingerprints before anything is sent to it.
 *
 * The command provider checks a pinned key itself (it refuses the handshake on a mismatch, before authenticating),
 * so an impostor never gets a session; without a pinned key it checks nothing. The local check below only makes a
 * changed key fail early and say what changed.
 */
import { createHash } from "crypto";
import type { Problem } from "../model/types";
import { shq } from "../node/shell";

/** The parts of a connection that trust depends on (plain values). */
export interface TrustedConnection {
  host?: string;
  port?: number;
  hostKey?: string;
  proxy?: { host?: string; port?: number; hostKey?: string };
}

/** `ssh-ed25519 AAAA… comment` → its type and base64 blob; undefined when it is not a public key line. */
export function parsePublicKey(line: string): { type: string; blob: string } | undefined {
  const [type, blob] = line.trim().split(/\s+/);
  if (!type || !blob || !/^[A-Za-z0-9+/]+={0,2}$/.test(blob)) return undefined;
  const decoded = Buffer.from(blob, "base64");
  // The blob starts with the key type as an SSH string: a wrong paste (a private key, a fingerprint) fails here.
  const inner = decoded.length > 4 ? decoded.subarray(4, 4 + decoded.readUInt32BE(0)).toString("latin1") : "";
  return inner === type ? { type, blob } : undefined;
}

/** OpenSSH's fingerprint of a public key line (`SHA256:…`, as `ssh-keygen -l` prints it). */
export function fingerprint(line: string): string {
  const key = parsePublicKey(line);
  if (!key) throw new Error("not an SSH public key");
  return `SHA256:${createHash("sha256").update(Buffer.from(key.blob, "base64")).digest("base64").replace(/=+$/, "")}`;
}

/** The problems with a node's host keys: missing without the opt-out, unreadable, or given with the opt-out. */
export function hostKeyProblems(at: string, nodeName: string, insecure: boolean | undefined, c: TrustedConnection): Problem[] {
  const problems: Problem[] = [];
  const check = (path: string, what: string, hostKey: unknown, host: unknown, port: unknown) => {
    const target = `${typeof host === "string" ? host : "HOST"}`;
    const p = typeof port === "number" ? port : 22;
    if (hostKey === undefined || hostKey === null || hostKey === "") {
      if (insecure) return;
      problems.push({
        path,
        message:
          `is required: pin the SSH host key of ${what} so that nobody else receives its registry credentials. ` +
          `Get it with \`ssh-keyscan -t ed25519 -p ${p} ${target}\` and compare its fingerprint with the machine's own ` +
          `(\`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\` there, or the cloud console's boot log), or take it from the ` +
          `resource that created the machine. To connect without checking it, set ${at}.insecureIgnoreHostKey: true`,
      });
      return;
    }
    if (typeof hostKey !== "string") return; // an Output: checked when it resolves
    if (insecure) {
      problems.push({ path, message: `is set, and so is ${at}.insecureIgnoreHostKey: remove insecureIgnoreHostKey to have the key checked` });
    } else if (!parsePublicKey(hostKey)) {
      problems.push({
        path,
        message: `must be an SSH public key line such as "ssh-ed25519 AAAAC3Nza…" (a line of ssh-keyscan's output without the host, or the machine's /etc/ssh/ssh_host_*_key.pub)`,
      });
    }
  };
  check(`${at}.connection.hostKey`, `node "${nodeName}"`, c.hostKey, c.host, c.port);
  if (c.proxy !== undefined && c.proxy !== null)
    check(`${at}.connection.proxy.hostKey`, `the bastion of node "${nodeName}"`, c.proxy.hostKey, c.proxy.host, c.proxy.port);
  return problems;
}

/** SSH key type names as ssh-keyscan prints them, for the pinned key's type. */
function keyscanType(type: string): string {
  return type.startsWith("rsa-sha2-") ? "ssh-rsa" : type;
}

/**
 * A local POSIX sh script that asks the node for its host key (ssh-keyscan: a key exchange, no authentication, no
 * session) and fails with both fingerprints when it is not the pinned one. A node that does not answer passes: the
 * connection itself then fails with its own error. Prints the fingerprint it saw.
 */
export function hostKeyCheckScript(nodeName: string, host: string, port: number, hostKey: string): string {
  const key = parsePublicKey(hostKey);
  if (!key) throw new Error(`node ${nodeName}: connection.hostKey is not an SSH public key`);
  const type = keyscanType(key.type);
  const want = fingerprint(hostKey);
  const say = (s: string) => `printf '%s\\n' ${shq(`registry-mirrors: node ${nodeName}: step host-key: ${s}`)}`;
  return [
    `# The SSH host key of node ${nodeName} at ${host}:${port} must be ${want} (${type}).`,
    "set -u",
    `want=${shq(want)}; type=${shq(type)}`,
    "if ! command -v ssh-keyscan >/dev/null 2>&1 || ! command -v ssh-keygen >/dev/null 2>&1; then",
    `  ${say("ssh-keyscan/ssh-keygen not found here; the key is checked by the SSH connection only")} >&2; echo unchecked; exit 0`,
    "fi",
    `keys=$(ssh-keyscan -T 5 -p ${port} ${shq(host)} 2>/dev/null | grep -v '^#')`,
    `if [ -z "$keys" ]; then ${say(`${host}:${port} did not answer a key scan; the connection will tell`)} >&2; echo unanswered; exit 0; fi`,
    `got=$(printf '%s\\n' "$keys" | awk -v t="$type" '$2 == t' | ssh-keygen -lf - 2>/dev/null | awk '{print $2}' | head -n 1)`,
    'if [ "$got" != "$want" ]; then',
    '  [ -n "$got" ] || got="no $type key (it offers: $(printf \'%s\\n\' "$keys" | awk \'{print $2}\' | sort -u | paste -sd, -))"',
    `  printf 'registry-mirrors: node %s: step host-key: the SSH host key at %s changed: pinned %s (%s), the node presents %s. Nothing was sent to it. If the machine was re-provisioned, pin its new key (connection.hostKey); otherwise find out who answers at that address.\\n' ${shq(nodeName)} ${shq(`${host}:${port}`)} "$want" "$type" "$got" >&2`,
    "  exit 1",
    "fi",
    'echo "$got"',
    "",
  ].join("\n");
}

/** One node in the combined host-key check: its address and pinned key, or behind a proxy (checked by the connection). */
export type HostKeyTarget = { node: string; host: string; port: number; hostKey: string } | { node: string; proxy: true };

/**
 * One local script that checks every node's host key at once (each {@link hostKeyCheckScript} in the background), so
 * that a cluster costs one engine step, not one per node. It always succeeds; per node it prints a block
 * `RM-HOSTKEY <node> <exit code>`, the node check's output, `RM-HOSTKEY-END` (see {@link parseHostKeyChecks}).
 */
export function hostKeysCheckScript(targets: HostKeyTarget[]): string {
  const lines = ["set -u", "d=$(mktemp -d) || exit 1", "trap 'rm -rf \"$d\"' EXIT"];
  targets.forEach((t, i) => {
    const script =
      "proxy" in t
        ? `echo 'node ${t.node} is behind a proxy: its host key is checked by the SSH connection'`
        : hostKeyCheckScript(t.node, t.host, t.port, t.hostKey);
    // A function whose body is a subshell: the node's `exit` ends only its own check. Readable in previews as it is.
    lines.push(`check_${i}() (`, script.trimEnd(), ")", `{ check_${i} >"$d/${i}.out" 2>"$d/${i}.err"; echo $? >"$d/${i}.rc"; } &`);
  });
  lines.push("wait");
  targets.forEach((t, i) => {
    lines.push(`printf 'RM-HOSTKEY %s %s\\n' ${shq(t.node)} "$(cat "$d/${i}.rc")"; cat "$d/${i}.out" "$d/${i}.err"; echo RM-HOSTKEY-END`);
  });
  return `${lines.join("\n")}\n`;
}

/** What the combined check said of each node: its exit code and output (a fingerprint, or what went wrong). */
export function parseHostKeyChecks(stdout: string): Map<string, { code: number; lines: string[] }> {
  const out = new Map<string, { code: number; lines: string[] }>();
  let current: { code: number; lines: string[] } | undefined;
  for (const line of stdout.split("\n")) {
    const head = /^RM-HOSTKEY (\S+) (\d+)$/.exec(line);
    if (head) out.set(head[1], (current = { code: Number(head[2]), lines: [] }));
    else if (line === "RM-HOSTKEY-END") current = undefined;
    else if (current && line !== "") current.lines.push(line);
  }
  return out;
}
