/** Endpoint URLs. */
import { charName, CONTROL_RE_G, firstControl } from "./common";
/** Characters that could end a TOML basic string or a shell single-quoted string, or start a shell expansion. */
export const QUOTE_BREAKERS: readonly string[] = ['"', "'", "\\", "`", "$"];

/** The first character not allowed in a URL path (RFC 3986 pchar and "/", without the quote breakers). */
export const PATH_BAD_CHAR_RE = /%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9\-._~!&()*+,;=:@/%]/u;

/** Characters allowed in a URL host besides bracketed IPv6: DNS names (with `_`, seen in compose networks), IPv4. */
export const HOST_RE = /^[a-z0-9._-]+$/;

/** Problems with the raw characters of a URL (before parsing). Empty when it has none. */
export function urlCharProblems(raw: string): string[] {
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
export interface RawUrl {
  scheme: string;
  authority: string;
  path: string;
  query?: string;
  fragment?: string;
}

/** Splits a URL string textually, or returns `undefined` when it does not start with `scheme://`. */
export function splitRawUrl(raw: string): RawUrl | undefined {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/.exec(raw);
  if (!m) return undefined;
  return { scheme: m[1].toLowerCase(), authority: m[2], path: m[3], query: m[4], fragment: m[5] };
}

/** Why a URL without `scheme://` is invalid: tells to add a scheme. */
export function missingSchemeProblem(raw: string): string {
  const example = /^[A-Za-z0-9.-]+(:\d+)?(\/|$)/.test(raw) ? `; write "https://${raw}"` : "";
  return `must start with https:// (or http:// for a plain-HTTP mirror)${example}`;
}

/** The host of a raw authority (`user@host:port` → `host`), as written. */
export function rawHost(authority: string): string {
  const hostport = authority.slice(authority.lastIndexOf("@") + 1);
  if (hostport.startsWith("[")) return hostport.slice(0, hostport.indexOf("]") + 1);
  const colon = hostport.lastIndexOf(":");
  return colon < 0 ? hostport : hostport.slice(0, colon);
}

/** Problems with the host and port of a parsed URL, compared with how the host was written. */
export function urlHostProblems(url: URL, raw: RawUrl): string[] {
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
export function urlPathProblems(path: string): string[] {
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
export function urlStructureProblems(raw: string): string[] {
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
