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
 * Runs a script as root on the node: through `sudo -n` for other users (never prompts: a sudo that wants a
 * password fails at once with a clear message), directly for root. The script is passed as an argument, so the
 * session's stdin stays free for the secret bundle.
 */
export function asRoot(script: string, opts: { sudo: boolean; node: string }): string {
  const delimiter = heredocDelimiter(script, "RM_SCRIPT");
  const body = `"$(cat <<'${delimiter}'\n${script}\n${delimiter}\n)"`;
  if (!opts.sudo) return `sh -c ${body}`;
  const refuse = `registry-mirrors: node ${opts.node}: step sudo: user $(id -un) cannot run sudo without a password (sudo -n failed); allow NOPASSWD for this user or connect as root`;
  return `if ! sudo -n true 2>/dev/null; then echo ${shq(refuse).replace("$(id -un)", `'"$(id -un)"'`)} >&2; exit 10; fi\nsudo -n sh -c ${body}`;
}
