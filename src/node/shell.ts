/** Shell quoting and the wrapper every node script runs in. */
import { createHash } from "crypto";

/** Quotes a value for POSIX sh: nothing inside single quotes is interpreted. */
export function shq(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** sha256 hex of a string (UTF-8). */
export function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/**
 * A heredoc delimiter that cannot occur in `content`: derived from the content's hash, and checked anyway.
 */
export function heredocDelimiter(content: string, prefix = "RM_EOF"): string {
  let delimiter = `${prefix}_${sha256(content).slice(0, 16)}`;
  while (content.split("\n").includes(delimiter)) delimiter += "_";
  return delimiter;
}

/**
 * Runs a script as root on the node: directly when the session is root, else through `sudo -n`, which never
 * prompts (a sudo that wants a password fails at once with a clear message). `sudo: true/false` forces either.
 * The script is passed as an argument, so the session's stdin stays free for the bundle.
 */
export function asRoot(script: string, opts: { sudo?: boolean; node: string }): string {
  const delimiter = heredocDelimiter(script, "RM_SCRIPT");
  const refuse = `registry-mirrors: node ${opts.node}: step sudo: user "$(id -un)" cannot run sudo without a password (sudo -n failed); allow NOPASSWD sudo for this user or connect as root`;
  const viaSudo = `if ! sudo -n true 2>/dev/null; then echo "${refuse.replace(/["\\`]/g, "\\$&").replace(/\$(?!\(id -un\))/g, "\\$")}" >&2; exit 10; fi; exec sudo -n sh -c "$RM_SCRIPT"`;
  const direct = `exec sh -c "$RM_SCRIPT"`;
  const run = opts.sudo === true ? viaSudo : opts.sudo === false ? direct : `if [ "$(id -u)" = 0 ]; then\n  ${direct}\nelse\n  ${viaSudo}\nfi`;
  return `RM_SCRIPT="$(cat <<'${delimiter}'\n${script}\n${delimiter}\n)"\n${run}`;
}
