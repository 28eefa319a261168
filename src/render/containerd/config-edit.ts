/**
 * What every config.toml edit shares (the registry table in config.ts, the deprecated tables in legacy.ts): how a
 * problem with the node's file is reported, and the proof that an edit changes only what it meant to.
 */
import { RegistryMirrorsError } from "../../model/types";
import { firstDifference, parseToml, pruneEmpty } from "../toml-text";

/** Throws the error for a config.toml that cannot be configured; `path` names the input to change. */
export function failConfig(message: string, path = "liveConfig"): never {
  throw new RegistryMirrorsError([{ path, message }], "cannot configure containerd");
}

/**
 * Proves an edit: the edited text parses, and its only semantic difference from the live file is what we meant
 * to change (`expected`: the live file as parsed, with those changes made). A failure is a bug in the editor, never
 * something to write to a node.
 */
export function proveConfigEdit(expected: unknown, edited: string): void {
  let after: unknown;
  try {
    after = parseToml(edited);
  } catch (e) {
    failConfig(
      `internal error: the edited config.toml does not parse (${(e as Error).message.split("\n")[0]}); nothing was written. Please report this with the file`,
    );
  }
  const diff = firstDifference(pruneEmpty(expected), pruneEmpty(after));
  if (diff !== undefined) {
    failConfig(`internal error: editing config.toml would also change "${diff}"; nothing was written. Please report this with the file`);
  }
}
