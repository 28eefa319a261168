/** Capabilities, credentials and headers of an endpoint. */
import { isPlainObject } from "../plain-object";
import { Capability, type Problem } from "../types";
import { keyPath, describe, charName, firstControl, closest, AUTH_FIELDS, checkUnknownFields } from "./common";
// Capabilities

/** Every capability, in the order messages list them. */
export const CAPABILITIES: readonly Capability[] = Object.values(Capability);

/** Checks one capability list; reports at `path` and its elements. */
export function checkCapabilities(value: unknown, path: string, out: Problem[]): void {
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

// Auth and headers

/** Checks one credential string (username or password). Never echoes the value. */
export function checkCredential(value: unknown, field: "username" | "password", path: string, out: Problem[]): void {
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
export function checkAuth(value: unknown, path: string, out: Problem[]): void {
  if (!isPlainObject(value)) {
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
export const HEADER_NAME_RE = /^[!#%&*+\-.^_|~0-9A-Za-z]+$/;

/** Checks one header name and value. Never echoes the value. */
export function checkHeader(name: string, value: unknown, path: string, out: Problem[]): void {
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
export function checkHeaders(value: unknown, hasAuth: boolean, path: string, out: Problem[]): void {
  if (!isPlainObject(value)) {
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
