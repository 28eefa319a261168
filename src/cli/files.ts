/** What `render` and `diff` show of a plan: every file by path, secrets masked unless asked for. */
import { createHash } from "crypto";
import { createTwoFilesPatch } from "diff";
import type { NodePlan } from "../render/types";

/** One file as the CLI shows it. */
export interface ShownFile {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
  readonly secret: boolean;
  /** True for the runtime's main config (config.toml, daemon.json, registries.yaml). */
  readonly main: boolean;
}

/** The plan's files plus its main config (or the live one when the plan leaves it alone), sorted by path. */
export function planFiles(plan: NodePlan, live?: { path: string; content: string }): ShownFile[] {
  const files: ShownFile[] = plan.files.map((f) => ({ path: f.path, content: f.content, mode: f.mode, secret: f.secret === true, main: false }));
  const main = plan.mainConfig ?? live;
  // The main config may carry credentials (legacy containerd tables): treat it as secret when it does.
  if (main) {
    const mode = (main as { mode?: number }).mode ?? 0o644;
    files.push({ path: main.path, content: main.content, mode, secret: /password|auth\s*=|"auth"/i.test(main.content), main: true });
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** A secret file's content replaced by a line that changes when the content does. */
export function shownContent(file: ShownFile, showSecrets: boolean): string {
  if (!file.secret || showSecrets) return file.content;
  const hash = createHash("sha256").update(file.content).digest("hex").slice(0, 16);
  return `(secret: ${Buffer.byteLength(file.content)} bytes, sha256 ${hash}…; pass --show-secrets to show it)\n`;
}

/**
 * A unified diff of every file that differs between two sets, in path order, `git diff` style (`a/…`, `b/…`,
 * `/dev/null` for added and removed files), three lines of context.
 */
export function unifiedDiff(before: readonly ShownFile[], after: readonly ShownFile[], showSecrets: boolean): string {
  const old = new Map(before.map((f) => [f.path, f]));
  const next = new Map(after.map((f) => [f.path, f]));
  const paths = [...new Set([...old.keys(), ...next.keys()])].sort();
  const parts: string[] = [];
  for (const path of paths) {
    const a = old.get(path);
    const b = next.get(path);
    const aText = a ? shownContent(a, showSecrets) : "";
    const bText = b ? shownContent(b, showSecrets) : "";
    if (a && b && a.content === b.content && a.mode === b.mode) continue;
    const rel = path.replace(/^\/+/, "");
    const patch = createTwoFilesPatch(a ? `a/${rel}` : "/dev/null", b ? `b/${rel}` : "/dev/null", aText, bText, undefined, undefined, { context: 3 });
    // The library starts with a line of "="; git's header line is what reviewers expect instead.
    const body = patch
      .split("\n")
      .filter((line, i) => !(i === 0 && /^=+$/.test(line)))
      .join("\n");
    const modeLine = a && b && a.mode !== b.mode ? `old mode ${a.mode.toString(8)}\nnew mode ${b.mode.toString(8)}\n` : "";
    const header = `diff --git a/${rel} b/${rel}\n${!a ? `new file mode ${b!.mode.toString(8)}\n` : !b ? `deleted file mode ${a.mode.toString(8)}\n` : modeLine}`;
    parts.push(`${header}${aText === bText ? "" : body}`);
  }
  return parts.join("");
}
