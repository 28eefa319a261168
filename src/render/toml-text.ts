/**
 * Surgical edits of TOML text. The file is split into segments (table headers, key/value pairs, comments and
 * blank lines) so a single key can be replaced, added or removed while every other byte, comment and the order
 * of the file survive. Every key and value is parsed by smol-toml; this module only finds where they are.
 * Callers prove each edit by parsing the result and comparing it with what they meant ({@link firstDifference}).
 */
import { parse, stringify, type TomlTable } from "smol-toml";
import { isPlainObject } from "../model/plain-object";

/** One piece of the text: a table header, a key/value pair (possibly several lines) or trivia. */
export interface Segment {
  kind: "table" | "arrayTable" | "keyval" | "trivia";
  /** First line (0-based). */
  start: number;
  /** One past the last line. */
  end: number;
  /** For headers: the table's key path. For key/values: the full key path (table path + dotted key). */
  path: string[];
  /** For key/values: the key exactly as written (e.g. `registry.config_path`). */
  keyText?: string;
}

/** A TOML document as lines plus its segments. */
export interface TomlText {
  /** The lines, without the empty string after a final newline. */
  lines: string[];
  segments: Segment[];
  /** True when the text ended with a newline (restored by {@link joinLines}). */
  trailingNewline: boolean;
}

const MAX_VALUE_LINES = 10_000;

/** Splits TOML text into segments. Throws if smol-toml cannot parse a piece. */
export function segmentToml(text: string): TomlText {
  const trailingNewline = text.endsWith("\n");
  const lines = (trailingNewline ? text.slice(0, -1) : text).split("\n");
  const segments: Segment[] = [];
  let table: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const trimmed = lines[i].trim();
    if (trimmed === "" || trimmed.startsWith("#")) {
      segments.push({ kind: "trivia", start: i, end: i + 1, path: [] });
      i += 1;
    } else if (trimmed.startsWith("[")) {
      const isArray = trimmed.startsWith("[[");
      table = headerPath(trimmed);
      segments.push({ kind: isArray ? "arrayTable" : "table", start: i, end: i + 1, path: table });
      i += 1;
    } else {
      const keyText = keyTextOf(lines[i]);
      const end = valueEnd(lines, i);
      segments.push({ kind: "keyval", start: i, end, path: [...table, ...keyPath(keyText)], keyText });
      i = end;
    }
  }
  return { lines, segments, trailingNewline };
}

/** Joins edited lines of a document back into text, keeping its final newline. */
export function joinLines(doc: TomlText, lines: string[]): string {
  return lines.join("\n") + (doc.trailingNewline ? "\n" : "");
}

/** The key path of a table header line, parsed by smol-toml. */
function headerPath(headerLine: string): string[] {
  return leafPath(parse(headerLine), (v) => isPlainObject(v) && Object.keys(v).length === 0);
}

/** The key path of a dotted key, parsed by smol-toml (`a."b.c".d` → [a, b.c, d]). */
function keyPath(keyText: string): string[] {
  return leafPath(parse(`${keyText} = 0`), (v) => v === 0);
}

/** Walks a parsed single-path document down to its leaf. */
function leafPath(doc: unknown, isLeaf: (v: unknown) => boolean): string[] {
  const path: string[] = [];
  let node: unknown = doc;
  while (!isLeaf(node)) {
    if (Array.isArray(node)) {
      node = node[node.length - 1];
      continue;
    }
    if (!isPlainObject(node)) throw new Error("unexpected TOML structure");
    const keys = Object.keys(node);
    if (keys.length !== 1) throw new Error("unexpected TOML structure");
    path.push(keys[0]);
    node = node[keys[0]];
  }
  return path;
}

/** The key of a key/value line: everything before the first `=` outside quotes. */
function keyTextOf(line: string): string {
  const eq = indexOutsideQuotes(line, "=");
  if (eq < 0) throw new Error(`not a TOML key/value line: ${line.trim()}`);
  return line.slice(0, eq).trim();
}

/** Index of `ch` in `line` outside TOML basic and literal strings, or -1. */
export function indexOutsideQuotes(line: string, ch: string, from = 0): number {
  let quote: string | undefined;
  for (let i = from; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === "\\" && quote === '"') i += 1;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === ch) return i;
  }
  return -1;
}

/** One past the last line of the value starting on line `start` (multi-line arrays and strings included). */
function valueEnd(lines: string[], start: number): number {
  for (let end = start + 1; end <= lines.length && end - start <= MAX_VALUE_LINES; end++) {
    try {
      parse(lines.slice(start, end).join("\n"));
      return end;
    } catch {
      // The value continues on the next line.
    }
  }
  throw new Error(`cannot parse the TOML value starting at line ${start + 1}: ${lines[start].trim()}`);
}

/** Quotes one key part when it is not a bare key. */
export function tomlKeyPart(part: string): string {
  return /^[A-Za-z0-9_-]+$/.test(part) ? part : JSON.stringify(part);
}

/** A `key = value` line with the value serialised by smol-toml. */
export function tomlKeyValue(keyText: string, value: unknown): string {
  const rendered = stringify({ v: value }).trim();
  return `${keyText} = ${rendered.slice(rendered.indexOf("=") + 1).trim()}`;
}

/** Replaces the value of a single-line key/value, keeping indentation, key text and a trailing comment. */
export function replaceValueLine(line: string, value: unknown): string {
  const indent = /^\s*/.exec(line)![0];
  const eq = indexOutsideQuotes(line, "=");
  const hash = indexOutsideQuotes(line, "#", eq + 1);
  const comment = hash >= 0 ? ` ${line.slice(hash).trimEnd()}` : "";
  return `${indent}${tomlKeyValue(line.slice(0, eq).trim(), value)}${comment}`;
}

/** Lines of the section that starts with the header segment at `headerIndex`: up to the next header. */
export function sectionEnd(doc: TomlText, headerIndex: number): number {
  for (let k = headerIndex + 1; k < doc.segments.length; k++) {
    const s = doc.segments[k];
    if (s.kind === "table" || s.kind === "arrayTable") return s.start;
  }
  return doc.lines.length;
}

/** True when `path` starts with `prefix`. */
export function hasPrefix(path: readonly string[], prefix: readonly string[]): boolean {
  return prefix.length <= path.length && prefix.every((p, i) => path[i] === p);
}

/** Reads a nested value by key path. */
export function getPath(doc: unknown, path: readonly string[]): unknown {
  let node = doc;
  for (const key of path) {
    if (!isPlainObject(node)) return undefined;
    node = node[key];
  }
  return node;
}

/** Sets a nested value by key path, creating tables on the way. */
export function setPath(doc: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = doc;
  for (const key of path.slice(0, -1)) {
    if (!isPlainObject(node[key])) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}

/** Deletes a nested value by key path. */
export function deletePath(doc: unknown, path: readonly string[]): void {
  const parent = getPath(doc, path.slice(0, -1));
  if (isPlainObject(parent)) delete parent[path[path.length - 1]];
}

/** A deep copy with empty tables removed: an empty table means nothing to containerd. */
export function pruneEmpty(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(pruneEmpty);
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const pruned = pruneEmpty(v);
    if (isPlainObject(pruned) && Object.keys(pruned).length === 0) continue;
    out[k] = pruned;
  }
  return out;
}

/** Deep equality of parsed TOML values, ignoring key order. Returns the first differing path, or undefined. */
export function firstDifference(a: unknown, b: unknown, path: string[] = []): string | undefined {
  if (a instanceof Date || b instanceof Date) {
    return String(a) === String(b) ? undefined : path.join(".") || "(root)";
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return path.join(".") || "(root)";
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(a[i], b[i], [...path, String(i)]);
      if (d) return d;
    }
    return undefined;
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const d = firstDifference(a[key], b[key], [...path, key]);
      if (d) return d;
    }
    return undefined;
  }
  return Object.is(a, b) ? undefined : path.join(".") || "(root)";
}

/** Parses TOML, returning the table. */
export function parseToml(text: string): TomlTable {
  return parse(text);
}

/**
 * Sets `key` of the table at `table`, trying the least invasive edit first: the existing line's value, a new line
 * under the table's header, a dotted key beside the table's other dotted keys, or a new table at the end.
 */
export function setTableKey(text: string, table: readonly string[], key: string, value: unknown): string {
  const doc = segmentToml(text);
  const target = [...table, key];
  const existing = doc.segments.find((s) => s.kind === "keyval" && pathEquals(s.path, target));
  if (existing) {
    if (existing.end - existing.start !== 1) {
      return spliceLines(doc, existing.start, existing.end, [tomlKeyValue(existing.keyText!, value)]);
    }
    return spliceLines(doc, existing.start, existing.end, [replaceValueLine(doc.lines[existing.start], value)]);
  }
  const headerIndex = doc.segments.findIndex((s) => s.kind === "table" && pathEquals(s.path, table));
  if (headerIndex >= 0) {
    const header = doc.segments[headerIndex];
    return spliceLines(doc, header.end, header.end, [`${sectionIndent(doc, headerIndex)}${tomlKeyValue(tomlKeyPart(key), value)}`]);
  }
  // The table may exist only through dotted keys in a parent section (`registry.mirrors = …`); a new header for
  // it would then be a TOML error, so add a dotted key to that parent.
  const dotted = doc.segments.find((s) => s.kind === "keyval" && hasPrefix(s.path, table));
  if (dotted) {
    const parentIndex = lastHeaderBefore(doc, dotted.start);
    const parentPath = parentIndex >= 0 ? doc.segments[parentIndex].path : [];
    const relative = target.slice(parentPath.length).map(tomlKeyPart).join(".");
    const indent = /^\s*/.exec(doc.lines[dotted.start])![0];
    return spliceLines(doc, dotted.end, dotted.end, [`${indent}${tomlKeyValue(relative, value)}`]);
  }
  return appendTable(text, table, { [key]: value });
}

/** Appends a new table (rendered by smol-toml) at the end of the text. */
export function appendTable(text: string, path: readonly string[], values: Record<string, unknown>): string {
  const nested: Record<string, unknown> = {};
  setPath(nested, path, values);
  const body = stringify(nested).replace(/^\n+/, "");
  const indented = body
    .split("\n")
    .map((line) => (line === "" || line.startsWith("[") ? line : `  ${line}`))
    .join("\n");
  const base = text.endsWith("\n") || text === "" ? text : `${text}\n`;
  return `${base}\n${indented.trimEnd()}\n`;
}

/** Removes every key/value and table at or below the given paths. */
export function removeKeys(text: string, paths: readonly (readonly string[])[]): string {
  const doc = segmentToml(text);
  const drop = new Set<number>();
  doc.segments.forEach((s, index) => {
    if (s.kind === "trivia") return;
    if (!paths.some((p) => hasPrefix(s.path, p))) return;
    const end = s.kind === "keyval" ? s.end : sectionEnd(doc, index);
    for (let line = s.start; line < end; line++) drop.add(line);
  });
  return joinLines(
    doc,
    doc.lines.filter((_, i) => !drop.has(i)),
  );
}

function pathEquals(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && hasPrefix(a, b);
}

function lastHeaderBefore(doc: TomlText, line: number): number {
  let found = -1;
  doc.segments.forEach((s, i) => {
    if ((s.kind === "table" || s.kind === "arrayTable") && s.start < line) found = i;
  });
  return found;
}

/** Indentation used by the key/values of a section (two spaces when it has none). */
function sectionIndent(doc: TomlText, headerIndex: number): string {
  const next = doc.segments.slice(headerIndex + 1).find((s) => s.kind !== "trivia");
  if (next && next.kind === "keyval") return /^\s*/.exec(doc.lines[next.start])![0];
  return "  ";
}

function spliceLines(doc: TomlText, start: number, end: number, replacement: string[]): string {
  return joinLines(doc, [...doc.lines.slice(0, start), ...replacement, ...doc.lines.slice(end)]);
}
