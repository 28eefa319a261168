/** Small helpers of validation: field paths, value descriptions, control characters, field-name suggestions. */
import { isPlainObject } from "../plain-object";
import { type Problem } from "../types";
/** Appends an object key to a field path: `a.b`, or `a["X-Header"]` when the key is not an identifier. */
export function keyPath(base: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${base}.${key}` : `${base}[${JSON.stringify(key)}]`;
}

/** Whether a value is an unresolved Pulumi `Output` (which must be resolved before validation). */
export function isPulumiOutput(value: unknown): boolean {
  return isPlainObject(value) && (value as { __pulumiOutput?: unknown }).__pulumiOutput === true;
}

/** Describes the type of a value for a message, e.g. `a number (5)`. Never shows string contents. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (isPulumiOutput(value)) return "a Pulumi Output (resolve it with .apply() before validating)";
  switch (typeof value) {
    case "string":
      return "a string";
    case "number":
    case "boolean":
      return `a ${typeof value} (${String(value)})`;
    case "object":
      // A Date or Map from JavaScript input is an object, but not one with fields.
      return isPlainObject(value) ? "an object" : `a ${Object.prototype.toString.call(value).slice(8, -1)}`;
    default:
      return typeof value;
  }
}

/** C0 and C1 control characters, DEL, and the Unicode line and paragraph separators. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
export const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Names a character for a message: `"\n" (newline)`, `U+0000 (NUL)`, or the character itself, quoted. */
export function charName(c: string): string {
  const named: Record<string, string> = { "\n": '"\\n" (newline)', "\r": '"\\r" (carriage return)', "\t": '"\\t" (tab)', "\0": "U+0000 (NUL)" };
  if (named[c]) return named[c];
  const code = c.codePointAt(0) ?? 0;
  if (CONTROL_RE.test(c)) return `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
  return c === '"' ? `'"'` : `"${c}"`;
}

/** {@link CONTROL_RE}, matching every occurrence. */
export const CONTROL_RE_G = new RegExp(CONTROL_RE.source, "gu");

/** The first control character in a string, if any. */
export function firstControl(s: string): string | undefined {
  return CONTROL_RE.exec(s)?.[0];
}

/** Levenshtein edit distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}

/** Lower-cases a name and drops `_` and `-` so `skip_verify`, `skip-verify` and `skipVerify` compare equal. */
export function foldName(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, "");
}

/** The closest of `candidates` to `name`, if it is close enough to be a likely typo. */
export function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(foldName(name), foldName(candidate));
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

/** A field of an object: its name, and names people commonly use for it in other tools' configs. */
export interface FieldSpec {
  readonly name: string;
  readonly aliases?: readonly string[];
}

/** Known fields of a mirror. */
export const MIRROR_FIELDS: readonly FieldSpec[] = [
  { name: "upstream", aliases: ["registry", "host", "prefix", "server", "name"] },
  { name: "endpoints", aliases: ["endpoint", "mirrors", "mirror", "hosts", "urls"] },
  { name: "fallback", aliases: ["fallbackToUpstream", "useUpstream"] },
  { name: "digestOnly", aliases: ["mirrorByDigestOnly", "mirror-by-digest-only", "pullFromMirror"] },
];

/** Known fields of a mirror endpoint. */
export const ENDPOINT_FIELDS: readonly FieldSpec[] = [
  { name: "url", aliases: ["endpoint", "location", "host", "server", "address"] },
  { name: "capabilities", aliases: ["capability", "caps"] },
  { name: "caCert", aliases: ["ca", "caFile", "cacertificate", "caBundle", "caPem", "tlsCa"] },
  { name: "clientCert", aliases: ["cert", "certFile", "client", "clientCertificate", "tlsCert"] },
  { name: "clientKey", aliases: ["key", "keyFile", "tlsKey", "privateKey"] },
  { name: "skipVerify", aliases: ["insecure", "insecureSkipVerify", "tlsSkipVerify", "insecureSkipTlsVerify"] },
  { name: "auth", aliases: ["username", "password", "credentials", "basicAuth"] },
  { name: "headers", aliases: ["header", "httpHeaders"] },
];

/** Known fields of basic auth. */
export const AUTH_FIELDS: readonly FieldSpec[] = [
  { name: "username", aliases: ["user", "login"] },
  { name: "password", aliases: ["pass", "token", "secret"] },
];

/** Suggests the known field an unknown field name was probably meant to be. */
export function suggestField(name: string, fields: readonly FieldSpec[]): string | undefined {
  const folded = foldName(name);
  const byAlias = fields.find((f) => f.aliases?.some((a) => foldName(a) === folded));
  return (
    byAlias?.name ??
    closest(
      name,
      fields.map((f) => f.name),
    )
  );
}

/** Reports every field of `obj` that is not in `fields`, suggesting the closest known one. */
export function checkUnknownFields(obj: Record<string, unknown>, fields: readonly FieldSpec[], path: string, out: Problem[]): void {
  const known = fields.map((f) => f.name);
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const hint = suggestField(key, fields);
    const tail = hint ? `did you mean "${hint}"?` : `remove it (known fields: ${known.join(", ")})`;
    out.push({ path: keyPath(path, key), message: `unknown field "${key}"; ${tail}` });
  }
}

/**
 * Reads an optional field: `undefined` when absent; reports `null` (omit the field instead) and returns `undefined`.
 */
export function optionalField(obj: Record<string, unknown>, key: string, path: string, out: Problem[]): unknown {
  const value = obj[key];
  if (value === null) out.push({ path: keyPath(path, key), message: "is null; omit the field instead" });
  return value ?? undefined;
}

/** Checks that an optional field, when present, is a boolean. Returns the boolean or `undefined`. */
export function optionalBoolean(obj: Record<string, unknown>, key: string, path: string, out: Problem[]): boolean | undefined {
  const value = optionalField(obj, key, path, out);
  if (value === undefined || typeof value === "boolean") return value;
  out.push({ path: keyPath(path, key), message: `must be true or false, got ${describe(value)}` });
  return undefined;
}
