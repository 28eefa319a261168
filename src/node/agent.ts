/**
 * The POSIX sh that runs on a node, kept as real shell files in ./agent (checked by shellcheck and run by the unit
 * tests under dash, bash and busybox sh): a library of functions (lib.sh, which also documents the on-node state)
 * and one file per step. protocol.ts joins a header of variables, the library and the steps of an operation.
 */
import { readFileSync } from "fs";
import { join } from "path";

/** Every file of the agent, by name; the build copies the folder beside the compiled module. */
export const AGENT_DIR = join(__dirname, "agent");
/**
 * One file as it is shipped: without its comment lines (they are for the reader of the file, and every byte is sent
 * to every node on every apply), keeping shellcheck's directives.
 */
const part = (file: string): string =>
  readFileSync(join(AGENT_DIR, file), "utf8")
    .split("\n")
    .filter((line) => !/^\s*#(?! shellcheck )/.test(line))
    .join("\n");

/** The library every operation starts with: messages, the lock, ownership, staging, compare-and-swap. */
export const AGENT_LIBRARY = part("lib.sh");
/** Read: the runtime and its version, the main config, the manifest, this instance's own hosts.toml files. */
export const READ_MAIN = part("read.sh");
/** Checks beyond our own files: the probe of every endpoint, the runtime's own view, the proof pull, rollback. */
export const AGENT_CHECKS = part("checks.sh");
/** Apply, first part: the lock, the run directory, the stdin bundle and the values read from it. */
export const APPLY_STAGE = part("apply-begin.sh");
/** Apply: files that only the stdin bundle knows (the main config, files derived from the read), conflicts, removals, probes. */
export const APPLY_STAGE_DYNAMIC = part("apply-stage-bundle.sh");
/** Apply, last part: the journal, the renames, the restart or reload, rollback on failure, the read-back. */
export const APPLY_COMMIT = part("apply-commit.sh");
/** Remove: this instance leaves the node; the last one to leave restores it. */
export const REMOVE_MAIN = part("remove.sh");
