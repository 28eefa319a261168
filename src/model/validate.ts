/**
 * Validation of the mirror specification. Input may come from untyped JavaScript or Pulumi structured config, so
 * every field is type-checked defensively. All problems are collected and reported at once, each with its field
 * path and a message that says what is wrong and what to do.
 *
 * Messages never repeat secrets (passwords, header values, private keys, URL user info).
 */

import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";
import { RegistryMirrorsError, type Capability, type Mirror, type Problem } from "./types";

// ---------------------------------------------------------------------------------------------------------------
// Small helpers: paths, value descriptions, characters, field names
// ---------------------------------------------------------------------------------------------------------------

/** Appends an object key to a field path: `a.b`, or `a["X-Header"]` when the key is not an identifier. */
function keyPath(base: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${base}.${key}` : `${base}[${JSON.stringify(key)}]`;
}

/** Whether a value is a plain (non-null, non-array) object. */
function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Whether a value is an unresolved Pulumi `Output` (which must be resolved before validation). */
function isPulumiOutput(value: unknown): boolean {
  return isRecord(value) && (value as { __pulumiOutput?: unknown }).__pulumiOutput === true;
}

/** Describes the type of a value for a message, e.g. `a number (5)`. Never shows string contents. */
function describe(value: unknown): string {
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
      return "an object";
    default:
      return typeof value;
  }
}

/** C0 and C1 control characters, DEL, and the Unicode line and paragraph separators. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Names a character for a message: `"\n" (newline)`, `U+0000 (NUL)`, or the character itself, quoted. */
function charName(c: string): string {
  const named: Record<string, string> = { "\n": '"\\n" (newline)', "\r": '"\\r" (carriage return)', "\t": '"\\t" (tab)', "\0": "U+0000 (NUL)" };
  if (named[c]) return named[c];
  const code = c.codePointAt(0) ?? 0;
  if (CONTROL_RE.test(c)) return `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
  return c === '"' ? `'"'` : `"${c}"`;
}

/** {@link CONTROL_RE}, matching every occurrence. */
const CONTROL_RE_G = new RegExp(CONTROL_RE.source, "gu");

/** The first control character in a string, if any. */
function firstControl(s: string): string | undefined {
  return CONTROL_RE.exec(s)?.[0];
}

/** Levenshtein edit distance, for "did you mean" suggestions. */
function editDistance(a: string, b: string): number {
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
function foldName(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, "");
}

/** The closest of `candidates` to `name`, if it is close enough to be a likely typo. */
function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(foldName(name), foldName(candidate));
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

/** A field of an object: its name, and names people commonly use for it in other tools' configs. */
interface FieldSpec {
  readonly name: string;
  readonly aliases?: readonly string[];
}

/** Known fields of a mirror. */
const MIRROR_FIELDS: readonly FieldSpec[] = [
  { name: "upstream", aliases: ["registry", "host", "prefix", "server", "name"] },
  { name: "endpoints", aliases: ["endpoint", "mirrors", "mirror", "hosts", "urls"] },
  { name: "fallback", aliases: ["fallbackToUpstream", "useUpstream"] },
  { name: "digestOnly", aliases: ["mirrorByDigestOnly", "mirror-by-digest-only", "pullFromMirror"] },
];

/** Known fields of a mirror endpoint. */
const ENDPOINT_FIELDS: readonly FieldSpec[] = [
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
const AUTH_FIELDS: readonly FieldSpec[] = [
  { name: "username", aliases: ["user", "login"] },
  { name: "password", aliases: ["pass", "token", "secret"] },
];

/** Suggests the known field an unknown field name was probably meant to be. */
function suggestField(name: string, fields: readonly FieldSpec[]): string | undefined {
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
function checkUnknownFields(obj: Record<string, unknown>, fields: readonly FieldSpec[], path: string, out: Problem[]): void {
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
function optionalField(obj: Record<string, unknown>, key: string, path: string, out: Problem[]): unknown {
  const value = obj[key];
  if (value === null) out.push({ path: keyPath(path, key), message: "is null; omit the field instead" });
  return value ?? undefined;
}

/** Checks that an optional field, when present, is a boolean. Returns the boolean or `undefined`. */
function optionalBoolean(obj: Record<string, unknown>, key: string, path: string, out: Problem[]): boolean | undefined {
  const value = optionalField(obj, key, path, out);
  if (value === undefined || typeof value === "boolean") return value;
  out.push({ path: keyPath(path, key), message: `must be true or false, got ${describe(value)}` });
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Host names
// ---------------------------------------------------------------------------------------------------------------

/** The registry hosts that all mean Docker Hub. */
const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);

/** Why an all-numeric dotted host is not an IPv4 address, or `undefined` when it is one. */
function ipv4Problem(host: string): string | undefined {
  const parts = host.split(".");
  const ok = parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
  return ok ? undefined : `"${host}" is not a valid IPv4 address; write four numbers from 0 to 255 without leading zeros, e.g. 10.0.0.5`;
}

/** Why one DNS label is not an RFC 1123 label, or `undefined`. */
function labelProblem(label: string, host: string): string | undefined {
  if (label === "") {
    return host.endsWith(".")
      ? `remove the trailing "." from "${host}"`
      : `"${host}" has an empty label ("..", or a leading "."); remove the extra "."`;
  }
  if (label.length > 63) return `label "${label.slice(0, 20)}…" is ${label.length} characters long; each dot-separated label may have at most 63`;
  const bad = /[^a-z0-9-]/.exec(label)?.[0];
  if (bad) return `contains ${charName(bad)}, which is not allowed in a host name; use lowercase letters, digits, "-" and "."`;
  if (label.startsWith("-") || label.endsWith("-")) return `label "${label}" must not start or end with "-"`;
  return undefined;
}

/** Why a lowercase host (no port) is neither a DNS name nor an IPv4 address, or `undefined` when it is one. */
function hostnameProblem(host: string): string | undefined {
  if (host === "") return "has no host name; write one such as registry.local";
  if (/^[0-9.]+$/.test(host)) return ipv4Problem(host);
  if (host.length > 253) return `host name is ${host.length} characters long; the maximum is 253`;
  for (const label of host.split(".")) {
    const problem = labelProblem(label, host);
    if (problem) return problem;
  }
  return undefined;
}

/** Why a port string is not a port number from 1 to 65535, or `undefined`. */
function portProblem(port: string): string | undefined {
  if (port === "") return `ends with ":" but has no port; remove the ":" or add a port number`;
  const ok = /^[1-9]\d{0,4}$/.test(port) && Number(port) <= 65535;
  return ok ? undefined : `port "${port}" must be a number from 1 to 65535 without leading zeros`;
}

// ---------------------------------------------------------------------------------------------------------------
// Upstream
// ---------------------------------------------------------------------------------------------------------------

/** The parts of an upstream written like a URL: everything that must not be there is split out. */
const UPSTREAM_PARTS_RE =
  /^(?<scheme>[A-Za-z][A-Za-z0-9+.-]*:\/\/)?(?<userinfo>[^@/?#]*@)?(?<hostport>[^/?#]*)(?<path>\/[^?#]*)?(?<query>\?[^#]*)?(?<fragment>#.*)?$/;

/** How a valid upstream looks, for messages. */
const UPSTREAM_EXAMPLE = "a registry host such as docker.io or registry.local:5000";

/** Why the scheme/user info/path/query/fragment make an upstream invalid, or `undefined` when it has none. */
function upstreamStructureProblem(value: string): string | undefined {
  const g = UPSTREAM_PARTS_RE.exec(value)?.groups ?? {};
  const extras: Array<[what: string, text: string | undefined]> = [
    ["scheme", g.scheme],
    ["user info", g.userinfo && "…@"],
    ["path", g.path],
    ["query", g.query],
    ["fragment", g.fragment],
  ];
  const found = extras.filter(([, text]) => text !== undefined);
  if (found.length === 0) return undefined;
  const whats = found.map(([what]) => what).join(" or ");
  const texts = found.map(([, text]) => JSON.stringify(text)).join(" and ");
  let message = `must be ${UPSTREAM_EXAMPLE}, without a ${whats}; remove ${texts}`;
  if (g.userinfo) message += " (credentials belong in the endpoint's auth)";
  if (g.path) message += " (a mirror's path belongs in the endpoint url)";
  const suggestion = g.hostport.toLowerCase();
  if (suggestion !== "" && upstreamProblem(suggestion) === undefined) message += `; write "${suggestion}"`;
  return message;
}

/** Why a `host[:port]` (no scheme or path) is not a valid upstream, or `undefined`. */
function hostPortProblem(hostport: string): string | undefined {
  if (hostport.includes("*")) {
    return `wildcards like "${hostport}" are not supported; use exactly "*" for every registry without its own entry, or list each host`;
  }
  if (hostport.startsWith("[")) return "IPv6 addresses are not supported as upstream; use a DNS name for the registry";
  const colon = hostport.indexOf(":");
  if (colon !== hostport.lastIndexOf(":")) return `"${hostport}" has more than one ":"; write host or host:port`;
  const host = colon < 0 ? hostport : hostport.slice(0, colon);
  const portIssue = colon < 0 ? undefined : portProblem(hostport.slice(colon + 1));
  const hostIssue = hostnameProblem(host.toLowerCase()) ?? portIssue;
  if (hostIssue) return hostIssue;
  if (host !== host.toLowerCase()) return `must be lowercase; write "${hostport.toLowerCase()}"`;
  if (colon < 0 && !host.includes(".") && host !== "localhost") {
    return `"${host}" has no "." or port, so image references never treat it as a registry ("${host}/app" means docker.io/${host}/app); write the full host name or add the port`;
  }
  return undefined;
}

/**
 * Why a string is not a valid mirror upstream, or `undefined` when it is valid.
 *
 * Valid: exactly `"*"`; or a lowercase RFC 1123 DNS name or an IPv4 address, with an optional `:port` (1–65535).
 * Never a scheme, user info, path, query, fragment, whitespace or control character.
 *
 * @param value - The upstream as written by the user.
 * @returns A message that says what is wrong and what to write instead, or `undefined`.
 */
export function upstreamProblem(value: string): string | undefined {
  if (value === "*") return undefined;
  if (value === "") return `must not be empty; write ${UPSTREAM_EXAMPLE}, or "*" for every registry`;
  if (value === "_default") return 'write "*" for the default entry (the renderers map it to containerd\'s _default)';
  const control = firstControl(value);
  if (control) return `contains the control character ${charName(control)}; remove it`;
  if (/\s/.test(value)) return `contains whitespace; remove it (write ${UPSTREAM_EXAMPLE})`;
  return upstreamStructureProblem(value) ?? hostPortProblem(value);
}

/**
 * Whether a value is a valid mirror upstream (see {@link upstreamProblem}).
 *
 * @param value - Anything; non-strings are not valid.
 */
export function isValidUpstream(value: unknown): value is string {
  return typeof value === "string" && upstreamProblem(value) === undefined;
}

/**
 * The key under which two upstreams denote the same registry: lower-cased, and `index.docker.io` /
 * `registry-1.docker.io` mapped to `docker.io`.
 *
 * @param upstream - A valid upstream.
 */
export function canonicalUpstream(upstream: string): string {
  const lower = upstream.toLowerCase();
  return DOCKER_HUB_ALIASES.has(lower) ? "docker.io" : lower;
}

// ---------------------------------------------------------------------------------------------------------------
// Endpoint URL
// ---------------------------------------------------------------------------------------------------------------

/** Characters that could end a TOML basic string or a shell single-quoted string, or start a shell expansion. */
const QUOTE_BREAKERS: readonly string[] = ['"', "'", "\\", "`", "$"];

/** The first character not allowed in a URL path (RFC 3986 pchar and "/", without the quote breakers). */
const PATH_BAD_CHAR_RE = /%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9\-._~!&()*+,;=:@/%]/u;

/** Characters allowed in a URL host besides bracketed IPv6: DNS names (with `_`, seen in compose networks), IPv4. */
const HOST_RE = /^[a-z0-9._-]+$/;

/** Problems with the raw characters of a URL (before parsing). Empty when it has none. */
function urlCharProblems(raw: string): string[] {
  const problems: string[] = [];
  const control = firstControl(raw);
  if (control) problems.push(`contains the control character ${charName(control)}; remove it`);
  if (/\s/.test(raw.replace(CONTROL_RE_G, ""))) problems.push("contains whitespace; remove it or percent-encode it (%20)");
  const breakers = QUOTE_BREAKERS.filter((c) => raw.includes(c));
  if (breakers.length > 0) {
    const list = breakers.map((c) => `${charName(c)} (%${c.charCodeAt(0).toString(16).toUpperCase()})`).join(", ");
    problems.push(`contains ${list}, which could break out of a quoted string in a config file or shell; remove or percent-encode it`);
  }
  return problems;
}

/** The raw parts of a URL with a `scheme://` prefix, split without normalisation. */
interface RawUrl {
  scheme: string;
  authority: string;
  path: string;
  query?: string;
  fragment?: string;
}

/** Splits a URL string textually, or returns `undefined` when it does not start with `scheme://`. */
function splitRawUrl(raw: string): RawUrl | undefined {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/.exec(raw);
  if (!m) return undefined;
  return { scheme: m[1].toLowerCase(), authority: m[2], path: m[3], query: m[4], fragment: m[5] };
}

/** Why a URL without `scheme://` is invalid: tells to add a scheme. */
function missingSchemeProblem(raw: string): string {
  const example = /^[A-Za-z0-9.-]+(:\d+)?(\/|$)/.test(raw) ? `; write "https://${raw}"` : "";
  return `must start with https:// (or http:// for a plain-HTTP mirror)${example}`;
}

/** The host of a raw authority (`user@host:port` → `host`), as written. */
function rawHost(authority: string): string {
  const hostport = authority.slice(authority.lastIndexOf("@") + 1);
  if (hostport.startsWith("[")) return hostport.slice(0, hostport.indexOf("]") + 1);
  const colon = hostport.lastIndexOf(":");
  return colon < 0 ? hostport : hostport.slice(0, colon);
}

/** Problems with the host and port of a parsed URL, compared with how the host was written. */
function urlHostProblems(url: URL, raw: RawUrl): string[] {
  const written = rawHost(raw.authority);
  if (written.toLowerCase() !== url.hostname) {
    return [`host "${written}" is not written in canonical form; write "${url.hostname}"`];
  }
  const problems: string[] = [];
  const bad = /^\[[0-9a-f:.]+\]$/.test(url.hostname) || HOST_RE.test(url.hostname) ? undefined : /[^a-z0-9._-]/u.exec(url.hostname)?.[0];
  if (bad) problems.push(`host contains ${charName(bad)}; use letters, digits, "-", "_" and "." (or a bracketed IPv6 address)`);
  if (url.port === "0") problems.push("port 0 is not valid; use a port from 1 to 65535");
  return problems;
}

/** Problems with the path of a URL as written. */
function urlPathProblems(path: string): string[] {
  const problems: string[] = [];
  const segments = path.split("/").slice(1);
  if (segments.some((s) => /^(?:\.|%2e){1,2}$/i.test(s))) {
    problems.push('must not contain "." or ".." path segments; write the path the mirror serves, e.g. /v2/namespace');
  }
  if (segments.slice(0, -1).some((s) => s === "")) problems.push('contains an empty path segment ("//"); remove the extra "/"');
  const bad = PATH_BAD_CHAR_RE.exec(path)?.[0];
  if (bad) problems.push(`path contains ${charName(bad)}, which is not allowed in a URL path; percent-encode it`);
  return problems;
}

/** Problems with the structure of a URL (scheme, user info, host, query, fragment, path). */
function urlStructureProblems(raw: string): string[] {
  const parts = splitRawUrl(raw);
  if (!parts) return [missingSchemeProblem(raw)];
  if (parts.scheme !== "http" && parts.scheme !== "https") {
    return [`scheme "${parts.scheme}://" is not supported; use https:// (or http:// for a plain-HTTP mirror)`];
  }
  if (rawHost(parts.authority) === "") return ["has no host; write it as https://host[:port][/path]"];
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return ["is not a valid URL; write it as https://host[:port][/path]"];
  }
  const problems: string[] = [];
  if (parts.authority.includes("@")) {
    problems.push('must not contain user info ("…@"); remove it and set auth: { username, password } on the endpoint instead');
  }
  problems.push(...urlHostProblems(url, parts));
  if (parts.query !== undefined) problems.push('must not have a query ("?…"); remove it — mirrors are addressed by host and path only');
  if (parts.fragment !== undefined) problems.push('must not have a fragment ("#…"); remove it');
  problems.push(...urlPathProblems(parts.path));
  return problems;
}

/**
 * Why a string is not a valid mirror endpoint URL. Empty when it is valid.
 *
 * Valid: parses as a WHATWG URL; scheme `http` or `https`; a host (DNS name, IPv4 or bracketed IPv6) written in
 * canonical form; no user info, query or fragment; no `.`/`..` path segments; no whitespace, control characters
 * or `"` `'` `\` `` ` `` `$`.
 *
 * @param raw - The URL as written by the user.
 * @returns Messages that say what is wrong and what to do.
 */
export function endpointUrlProblems(raw: string): string[] {
  if (raw === "") return ["must not be empty; write the mirror's URL, e.g. https://mirror.internal:5000"];
  const charProblems = urlCharProblems(raw);
  return charProblems.length > 0 ? charProblems : urlStructureProblems(raw);
}

/**
 * Normalises a valid endpoint URL for comparison: WHATWG serialisation (lower-case scheme and host, default port
 * dropped) without a trailing `/`. `https://Mirror:443/` and `https://mirror` give the same result.
 *
 * @param url - A URL that passed {@link endpointUrlProblems}.
 */
export function normalizeEndpointUrl(url: string): string {
  return new URL(url).href.replace(/\/$/, "");
}

// ---------------------------------------------------------------------------------------------------------------
// Capabilities
// ---------------------------------------------------------------------------------------------------------------

/** Every capability, in the order messages list them. */
const CAPABILITIES: readonly Capability[] = ["pull", "resolve", "push"];

/** Checks one capability list; reports at `path` and its elements. */
function checkCapabilities(value: unknown, path: string, out: Problem[]): void {
  if (!Array.isArray(value)) {
    out.push({ path, message: `must be a list such as ["pull", "resolve"], got ${describe(value)}` });
    return;
  }
  if (value.length === 0) {
    out.push({ path, message: 'must not be empty; list at least "pull", or omit it for the default ["pull", "resolve"]' });
    return;
  }
  const seen = new Map<string, number>();
  Array.from(value).forEach((cap: unknown, i) => {
    const at = `${path}[${i}]`;
    if (typeof cap !== "string" || !(CAPABILITIES as readonly string[]).includes(cap)) {
      const hint = typeof cap === "string" ? closest(cap, CAPABILITIES) : undefined;
      const shown = typeof cap === "string" ? JSON.stringify(cap) : describe(cap);
      out.push({ path: at, message: `${shown} is not a capability; ${hint ? `did you mean "${hint}"? ` : ""}use "pull", "resolve" or "push"` });
    } else if (seen.has(cap)) {
      out.push({ path: at, message: `"${cap}" is listed twice (also at index ${seen.get(cap)}); remove this one` });
    } else {
      seen.set(cap, i);
    }
  });
  if (seen.has("resolve") && !seen.has("pull")) {
    out.push({ path, message: '"resolve" requires "pull": a host that resolves tags must also serve the content; add "pull"' });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// PEM: certificates and keys
// ---------------------------------------------------------------------------------------------------------------

/** One `-----BEGIN X----- … -----END X-----` block. */
interface PemBlock {
  label: string;
  text: string;
}

/** Splits PEM text into its blocks; text between blocks (comments) is ignored. */
function pemBlocks(text: string): PemBlock[] {
  const re = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
  return Array.from(text.matchAll(re), (m) => ({ label: m[1], text: m[0] }));
}

/** Problems common to all PEM fields: type, NUL, a file path given instead of content, truncated blocks. */
function pemTextProblem(value: unknown, kind: string): string | undefined {
  if (typeof value !== "string") return `must be PEM text (${kind}), got ${describe(value)}`;
  if (value.includes("\0")) return "contains a NUL character; remove it (is this a binary DER file? convert it with openssl to PEM)";
  if (!value.includes("-----BEGIN ")) {
    const looksLikePath = /^\s*[~.]?\/\S*\s*$/.test(value);
    return looksLikePath
      ? `must be the PEM text itself, not a file path; read the file (e.g. fs.readFileSync(path, "utf8")) and pass its content`
      : `must be PEM text starting with "-----BEGIN ${kind}-----"`;
  }
  if (value.split("-----BEGIN ").length - 1 !== pemBlocks(value).length) {
    return 'has a "-----BEGIN" line without its matching "-----END" line; the PEM looks truncated — copy it again completely';
  }
  return undefined;
}

/**
 * Parses the CERTIFICATE blocks of a PEM bundle, reporting blocks that do not parse and blocks of other types.
 * Returns the parsed certificates, or `undefined` when there was a problem.
 */
function parseCertificates(value: unknown, field: "caCert" | "clientCert", path: string, out: Problem[]): X509Certificate[] | undefined {
  const textIssue = pemTextProblem(value, "CERTIFICATE");
  if (textIssue) {
    out.push({ path, message: textIssue });
    return undefined;
  }
  const certs: X509Certificate[] = [];
  let ok = true;
  pemBlocks(value as string).forEach((block, i) => {
    const which = `PEM block #${i + 1}`;
    if (block.label.endsWith("PRIVATE KEY")) {
      const where = field === "clientCert" ? "move it to clientKey" : "remove it — caCert must hold only certificates";
      out.push({ path, message: `${which} is a private key; ${where}` });
      ok = false;
    } else if (block.label !== "CERTIFICATE") {
      out.push({ path, message: `${which} is a "${block.label}"; only CERTIFICATE blocks are allowed, remove it` });
      ok = false;
    } else {
      try {
        certs.push(new X509Certificate(block.text));
      } catch (e) {
        out.push({ path, message: `${which} does not parse as an X.509 certificate (${(e as Error).message}); export it again` });
        ok = false;
      }
    }
  });
  return ok ? certs : undefined;
}

/** Why clientKey text cannot be used, before parsing it. */
function keyTextProblem(value: unknown): string | undefined {
  const textIssue = pemTextProblem(value, "PRIVATE KEY");
  if (textIssue) return textIssue;
  const blocks = pemBlocks(value as string);
  if (blocks.some((b) => b.label === "CERTIFICATE")) return "contains a certificate; put it in clientCert and keep only the private key here";
  const keys = blocks.filter((b) => b.label.endsWith("PRIVATE KEY"));
  if (keys.length === 0) {
    const publicKey = blocks.some((b) => b.label.endsWith("PUBLIC KEY"));
    return publicKey ? "is a public key; clientKey must be the private key of clientCert" : 'must contain a "-----BEGIN PRIVATE KEY-----" block';
  }
  if (keys.length > 1) return `holds ${keys.length} private keys; keep only the key of clientCert`;
  if (keys[0].label.includes("ENCRYPTED") || /Proc-Type:\s*4,ENCRYPTED/.test(keys[0].text)) {
    return "is encrypted, and the runtimes cannot use a passphrase; decrypt it with `openssl pkey -in key.pem -out plain.pem` and pass that";
  }
  return undefined;
}

/** Parses clientKey, reporting problems. Returns the key or `undefined`. */
function parsePrivateKey(value: unknown, path: string, out: Problem[]): KeyObject | undefined {
  const issue = keyTextProblem(value);
  if (issue) {
    out.push({ path, message: issue });
    return undefined;
  }
  const block = pemBlocks(value as string).find((b) => b.label.endsWith("PRIVATE KEY"));
  try {
    return createPrivateKey(block?.text ?? "");
  } catch (e) {
    out.push({ path, message: `does not parse as a private key (${(e as Error).message}); export it again as PEM` });
    return undefined;
  }
}

/** Whether a certificate's public key matches a private key (false when the key types differ). */
function keyMatches(cert: X509Certificate, key: KeyObject): boolean {
  try {
    return cert.checkPrivateKey(key);
  } catch {
    return false;
  }
}

/** Checks that clientKey belongs to the first certificate of clientCert. */
function checkKeyPair(certs: X509Certificate[], key: KeyObject, path: string, out: Problem[]): void {
  if (certs.length === 0 || keyMatches(certs[0], key)) return;
  const other = certs.findIndex((c) => keyMatches(c, key));
  const message =
    other > 0
      ? `belongs to certificate #${other + 1} of clientCert, not the first; put the client's own certificate first, then its issuers`
      : "does not belong to clientCert (its first certificate); use the key the certificate was issued for";
  out.push({ path, message });
}

/** Checks caCert, clientCert and clientKey of an endpoint, and that the client pair is complete and matches. */
function checkTls(ep: Record<string, unknown>, path: string, out: Problem[]): void {
  const ca = optionalField(ep, "caCert", path, out);
  if (ca !== undefined) parseCertificates(ca, "caCert", `${path}.caCert`, out);
  const cert = optionalField(ep, "clientCert", path, out);
  const key = optionalField(ep, "clientKey", path, out);
  const certs = cert === undefined ? undefined : parseCertificates(cert, "clientCert", `${path}.clientCert`, out);
  const keyObject = key === undefined ? undefined : parsePrivateKey(key, `${path}.clientKey`, out);
  if (cert !== undefined && key === undefined) {
    out.push({
      path: `${path}.clientKey`,
      message: "is missing while clientCert is set; add the client certificate's private key, or remove clientCert",
    });
  }
  if (key !== undefined && cert === undefined) {
    out.push({ path: `${path}.clientCert`, message: "is missing while clientKey is set; add the client certificate, or remove clientKey" });
  }
  if (certs && keyObject) checkKeyPair(certs, keyObject, `${path}.clientKey`, out);
}

// ---------------------------------------------------------------------------------------------------------------
// Auth and headers
// ---------------------------------------------------------------------------------------------------------------

/** Checks one credential string (username or password). Never echoes the value. */
function checkCredential(value: unknown, field: "username" | "password", path: string, out: Problem[]): void {
  if (typeof value !== "string") {
    out.push({ path, message: value === undefined ? `is missing; set the ${field}` : `must be a string, got ${describe(value)}` });
  } else if (value === "") {
    out.push({ path, message: `must not be empty; set the ${field}, or remove auth for anonymous pulls` });
  } else if (firstControl(value)) {
    out.push({
      path,
      message: `contains the control character ${charName(firstControl(value) as string)}; remove it (check for a trailing newline)`,
    });
  } else if (field === "username" && value.includes(":")) {
    out.push({ path, message: 'must not contain ":" (HTTP basic auth separates user and password with it); use a user name without ":"' });
  }
}

/** Checks an endpoint's auth object. */
function checkAuth(value: unknown, path: string, out: Problem[]): void {
  if (!isRecord(value)) {
    out.push({ path, message: `must be an object { username, password }, got ${describe(value)}` });
    return;
  }
  checkUnknownFields(value, AUTH_FIELDS, path, out);
  checkCredential(value.username, "username", `${path}.username`, out);
  checkCredential(value.password, "password", `${path}.password`, out);
}

/**
 * RFC 7230 token characters, without `'`, `` ` `` and `$` (legal in HTTP but unsafe in shell-quoted strings and
 * never used in real header names).
 */
const HEADER_NAME_RE = /^[!#%&*+\-.^_|~0-9A-Za-z]+$/;

/** Checks one header name and value. Never echoes the value. */
function checkHeader(name: string, value: unknown, path: string, out: Problem[]): void {
  if (!HEADER_NAME_RE.test(name)) {
    out.push({ path, message: 'is not a valid header name; use letters, digits and "-" (RFC 7230 token), e.g. X-Registry-Token' });
  }
  if (typeof value !== "string") {
    out.push({ path, message: `value must be a string, got ${describe(value)}` });
  } else if (firstControl(value)) {
    out.push({
      path,
      message: `value contains the control character ${charName(firstControl(value) as string)}; remove it (CR/LF would inject headers)`,
    });
  }
}

/** Checks an endpoint's headers: names, values, case-insensitive duplicates, and a conflict with `auth`. */
function checkHeaders(value: unknown, hasAuth: boolean, path: string, out: Problem[]): void {
  if (!isRecord(value)) {
    out.push({ path, message: `must be an object of header name to value, e.g. { "X-Token": "…" }, got ${describe(value)}` });
    return;
  }
  const seen = new Map<string, string>();
  for (const [name, headerValue] of Object.entries(value)) {
    const at = keyPath(path, name);
    checkHeader(name, headerValue, at, out);
    const folded = name.toLowerCase();
    const earlier = seen.get(folded);
    if (earlier !== undefined) {
      out.push({ path: at, message: `duplicates header "${earlier}" (header names are case-insensitive); keep only one` });
    }
    seen.set(folded, name);
    if (folded === "authorization" && hasAuth) {
      out.push({ path: at, message: "conflicts with auth, which also sets Authorization; use either auth or this header, not both" });
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Endpoints and mirrors
// ---------------------------------------------------------------------------------------------------------------

/** Checks an endpoint's url; returns its normalised form for duplicate detection, or `undefined` when invalid. */
function checkUrl(ep: Record<string, unknown>, path: string, out: Problem[]): string | undefined {
  const url = ep.url;
  if (typeof url !== "string") {
    const message =
      url === undefined || url === null
        ? "is missing; set the mirror's URL, e.g. https://mirror.internal:5000"
        : `must be a string, got ${describe(url)}`;
    out.push({ path: `${path}.url`, message });
    return undefined;
  }
  const problems = endpointUrlProblems(url);
  for (const message of problems) out.push({ path: `${path}.url`, message });
  return problems.length === 0 ? normalizeEndpointUrl(url) : undefined;
}

/** Reports TLS settings on an http:// endpoint, where there is no TLS for them to apply to. */
function checkPlainHttp(ep: Record<string, unknown>, path: string, out: Problem[]): void {
  if (ep.skipVerify === true) {
    out.push({ path: `${path}.skipVerify`, message: "has no effect on an http:// endpoint (there is no TLS to verify); remove it, or use https://" });
  }
  for (const field of ["caCert", "clientCert", "clientKey"]) {
    if (ep[field] === undefined || ep[field] === null) continue;
    out.push({ path: `${path}.${field}`, message: `is never used on an http:// endpoint (plain HTTP has no TLS); use https://, or remove ${field}` });
  }
}

/**
 * Checks one endpoint. Returns its normalised URL (for duplicate detection), or `undefined` when it has none.
 */
function checkEndpoint(value: unknown, path: string, out: Problem[]): string | undefined {
  if (!isRecord(value)) {
    out.push({ path, message: `must be an object such as { url: "https://mirror.internal:5000" }, got ${describe(value)}` });
    return undefined;
  }
  checkUnknownFields(value, ENDPOINT_FIELDS, path, out);
  const normalized = checkUrl(value, path, out);
  const capabilities = optionalField(value, "capabilities", path, out);
  if (capabilities !== undefined) checkCapabilities(capabilities, `${path}.capabilities`, out);
  checkTls(value, path, out);
  optionalBoolean(value, "skipVerify", path, out);
  const auth = optionalField(value, "auth", path, out);
  if (auth !== undefined) checkAuth(auth, `${path}.auth`, out);
  const headers = optionalField(value, "headers", path, out);
  if (headers !== undefined) checkHeaders(headers, auth !== undefined, `${path}.headers`, out);
  if (normalized?.startsWith("http:")) checkPlainHttp(value, path, out);
  return normalized;
}

/** Checks a mirror's endpoint list, including duplicate URLs within it. */
function checkEndpoints(value: unknown, path: string, out: Problem[]): void {
  if (value === undefined || value === null) {
    out.push({ path, message: 'is missing; list at least one mirror, e.g. [{ url: "https://mirror.internal:5000" }]' });
    return;
  }
  if (!Array.isArray(value)) {
    out.push({ path, message: `must be a list of endpoints such as [{ url: "https://mirror.internal:5000" }], got ${describe(value)}` });
    return;
  }
  if (value.length === 0) {
    out.push({ path, message: "must list at least one endpoint; add one, or remove this mirror" });
    return;
  }
  const seen = new Map<string, number>();
  Array.from(value).forEach((ep: unknown, j) => {
    const normalized = checkEndpoint(ep, `${path}[${j}]`, out);
    if (normalized === undefined) return;
    const earlier = seen.get(normalized);
    if (earlier !== undefined) {
      out.push({ path: `${path}[${j}].url`, message: `is the same URL as ${path}[${earlier}].url; remove one of them` });
    } else {
      seen.set(normalized, j);
    }
  });
}

/** Checks a mirror's upstream; returns its canonical key for duplicate detection, or `undefined` when invalid. */
function checkUpstream(value: unknown, path: string, out: Problem[]): string | undefined {
  if (typeof value !== "string") {
    const message =
      value === undefined || value === null
        ? `is missing; set ${UPSTREAM_EXAMPLE}, or "*"`
        : `must be a string such as "docker.io", got ${describe(value)}`;
    out.push({ path, message });
    return undefined;
  }
  const problem = upstreamProblem(value);
  if (problem) out.push({ path, message: problem });
  return problem ? undefined : canonicalUpstream(value);
}

/** Checks one mirror. Returns its canonical upstream (for duplicate detection), or `undefined`. */
function checkMirror(value: unknown, path: string, out: Problem[]): string | undefined {
  if (!isRecord(value)) {
    out.push({ path, message: `must be an object such as { upstream: "docker.io", endpoints: [{ url: "https://…" }] }, got ${describe(value)}` });
    return undefined;
  }
  checkUnknownFields(value, MIRROR_FIELDS, path, out);
  const upstream = checkUpstream(value.upstream, `${path}.upstream`, out);
  checkEndpoints(value.endpoints, `${path}.endpoints`, out);
  const fallback = optionalBoolean(value, "fallback", path, out);
  const digestOnly = optionalBoolean(value, "digestOnly", path, out);
  if (fallback === false && digestOnly === true) {
    out.push({
      path: `${path}.digestOnly`,
      message:
        "contradicts fallback: false — tag pulls skip the mirrors and would have to go to the upstream, which fallback: false forbids; " +
        "remove digestOnly to pull tags from the mirrors too, or remove fallback: false to let tag pulls reach the upstream",
    });
  }
  return upstream;
}

/**
 * Collects every problem in a mirror list without throwing. Input may be untyped (JavaScript, Pulumi config).
 *
 * @param mirrors - The mirror list to check.
 * @param path - Field path of the list, used as the prefix of every problem's path.
 * @returns Every problem found, in document order; empty when the list is valid.
 */
export function findProblems(mirrors: unknown, path = "mirrors"): Problem[] {
  const out: Problem[] = [];
  if (!Array.isArray(mirrors)) {
    out.push({
      path,
      message: `must be a list of mirrors such as [{ upstream: "docker.io", endpoints: [{ url: "https://…" }] }], got ${describe(mirrors)}`,
    });
    return out;
  }
  const seen = new Map<string, number>();
  Array.from(mirrors).forEach((mirror: unknown, i) => {
    const key = checkMirror(mirror, `${path}[${i}]`, out);
    if (key === undefined) return;
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      const same = key === "docker.io" ? " (docker.io, index.docker.io and registry-1.docker.io are all Docker Hub)" : "";
      out.push({
        path: `${path}[${i}].upstream`,
        message: `mirrors the same registry as ${path}[${earlier}]${same}; merge their endpoints into one entry`,
      });
    } else {
      seen.set(key, i);
    }
  });
  return out;
}

/**
 * Validates a mirror list and throws if anything is wrong, listing every problem at once.
 *
 * @param mirrors - The mirror list; may come from untyped JavaScript or Pulumi structured config.
 * @param path - Field path of the list, used as the prefix of every problem's path. Default `mirrors`.
 * @throws {@link RegistryMirrorsError} whose `problems` name each bad field (e.g. `mirrors[2].endpoints[0].url`).
 */
export function validateMirrors(mirrors: unknown, path = "mirrors"): asserts mirrors is readonly Mirror[] {
  const problems = findProblems(mirrors, path);
  if (problems.length > 0) throw new RegistryMirrorsError(problems);
}

/** Alias of {@link validateMirrors}. */
export const assertValid: typeof validateMirrors = validateMirrors;
