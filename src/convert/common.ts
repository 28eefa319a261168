/**
 * Helpers shared by the converters: reading YAML, field paths, the containerd-style URL path rule, credentials in
 * Docker's config.json, and the final validation of an imported spec.
 */
import { parseAllDocuments, stringify } from "yaml";
import { isPlainObject } from "../model/plain-object";
import { RegistryMirrorsError, type BasicAuth, type Mirror, type MirrorEndpoint, type Problem } from "../model/types";
import { canonicalUpstream, findProblems } from "../model/validate";
import { compareCodeUnits, needsOverridePath, parseEndpointUrl } from "../render/common";
import type { ConversionNote, ImportOptions } from "./types";

export { isPlainObject };

/** A mutable copy of {@link MirrorEndpoint} while an importer builds it. */
export type EndpointDraft = { -readonly [K in keyof MirrorEndpoint]: MirrorEndpoint[K] };

/** A mutable mirror while an importer builds it. */
export interface MirrorDraft {
  upstream: string;
  endpoints: EndpointDraft[];
  fallback?: boolean;
  digestOnly?: boolean;
}

/** `base.key`, quoting a key that holds dots or other punctuation (`mirrors."docker.io"`). */
export function fieldPath(base: string, key: string | number): string {
  if (typeof key === "number") return `${base}[${key}]`;
  const part = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? key : JSON.stringify(key);
  return base === "" ? part : `${base}.${part}`;
}

/** Parses every YAML document of a text; a syntax error is a problem naming the source and the line. */
export function parseYamlDocuments(text: string, source: string): unknown[] {
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  const problems: Problem[] = [];
  for (const doc of list) {
    for (const error of doc.errors) {
      const line = error.linePos?.[0];
      problems.push({ path: line ? `${source}:${line.line}` : source, message: `is not valid YAML: ${error.message.split("\n")[0]}` });
    }
  }
  if (problems.length > 0) throw new RegistryMirrorsError(problems, `cannot read ${source}`);
  return list
    .map((doc, i) => {
      try {
        return doc.toJS() as unknown;
      } catch (e) {
        // An alias without its anchor and the like: valid syntax, no value.
        throw new RegistryMirrorsError(
          [{ path: `${source} document ${i + 1}`, message: `is not valid YAML: ${(e as Error).message}` }],
          `cannot read ${source}`,
        );
      }
    })
    .filter((value) => value !== null && value !== undefined);
}

/** YAML text of a document: block style, no line folding, so long PEM lines and URLs stay whole. */
export function toYaml(document: unknown): string {
  return stringify(document, { lineWidth: 0, aliasDuplicateObjects: false });
}

/** Notes every key of `obj` that the converter does not read. */
export function noteUnknownFields(
  obj: Record<string, unknown>,
  known: readonly string[],
  path: string,
  notes: ConversionNote[],
  format: string,
): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key))
      notes.push({ path: fieldPath(path, key), message: `is not a ${format} field this converter knows; it was not imported` });
  }
}

/** Throws a problem for a source field of the wrong type. */
export function wrongType(path: string, expected: string, value: unknown): never {
  throw new RegistryMirrorsError([{ path, message: `must be ${expected}, got ${JSON.stringify(value) ?? String(value)}` }], "cannot convert");
}

/** A string field, or `undefined`; throws for another type. */
export function optionalString(obj: Record<string, unknown>, key: string, path: string): string | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") wrongType(fieldPath(path, key), "a string", value);
  return value;
}

/** A boolean field, or `undefined`; throws for another type. */
export function optionalBool(obj: Record<string, unknown>, key: string, path: string): boolean | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") wrongType(fieldPath(path, key), "true or false", value);
  return value;
}

/** A list field (empty when absent); throws for another type. */
export function optionalList(obj: Record<string, unknown>, key: string, path: string): unknown[] {
  const value = obj[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) wrongType(fieldPath(path, key), "a list", value);
  return value;
}

/** A map field (empty when absent); throws for another type. */
export function optionalMap(obj: Record<string, unknown>, key: string, path: string): Record<string, unknown> {
  const value = obj[key];
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value)) wrongType(fieldPath(path, key), "a map", value);
  return value;
}

/** `scheme://host[:port]` plus an optional path, with `https://` added when the source omits the scheme. */
export function withScheme(raw: string, defaultScheme: "http" | "https" = "https"): string {
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(raw) ? raw : `${defaultScheme}://${raw}`;
}

/**
 * Our spec's URL for a containerd `[host]` URL and its `override_path` (hosts.toml, Gardener, Talos). containerd uses
 * the path as the API root with `override_path`; without it, it appends `/v2` unless the path already ends so. Our
 * spec reads a path other than `""` or `/v2` as the API root, so a non-root path gets its `/v2` written out.
 */
export function fromContainerdHost(url: string, overridePath: boolean): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*)([^?#]*)$/.exec(url);
  if (!m) return url;
  const [, origin, rawPath] = m;
  const path = rawPath.replace(/\/+$/, "");
  if (path === "" || path === "/v2") return origin;
  if (overridePath || path.endsWith("/v2")) return `${origin}${path}`;
  return `${origin}${path}/v2`;
}

/** The containerd host URL and `override_path` for one of our endpoint URLs (the inverse of {@link fromContainerdHost}). */
export function toContainerdHost(url: string): { url: string; overridePath: boolean } {
  const parsed = parseEndpointUrl(url);
  const overridePath = needsOverridePath(parsed);
  return { url: overridePath ? parsed.url : `${parsed.scheme}://${parsed.hostPort}`, overridePath };
}

/** `host[:port]` of one of our endpoint URLs, the key of per-host TLS and credentials tables. */
export function endpointHost(url: string): string {
  try {
    return parseEndpointUrl(url).hostPort;
  } catch {
    // Not a URL: validation reports it later; the authority as written is the best key meanwhile.
    return /^[^:]*:\/\/([^/?#]*)/.exec(url)?.[1] ?? url;
  }
}

/** `username:password` from base64 (`auth` in Docker's config.json, Talos and k3s), or `undefined`. */
export function decodeBasicAuth(encoded: string): BasicAuth | undefined {
  const text = Buffer.from(encoded, "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon <= 0) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/**
 * The credentials Docker's config.json holds for a registry host, or a reason why there are none. Credential
 * helpers (`credsStore`, `credHelpers`) keep secrets outside the file, so they cannot be imported.
 */
export function dockerConfigAuth(text: string, host: string): BasicAuth | string {
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (e) {
    return `is not JSON (${(e as Error).message})`;
  }
  if (!isPlainObject(config)) return "is not a Docker config.json object";
  const auths = isPlainObject(config.auths) ? config.auths : {};
  const candidates = [host, `https://${host}`, `http://${host}`, `https://${host}/v1/`, `https://${host}/v2/`];
  const key = candidates.find((c) => isPlainObject(auths[c]));
  if (key === undefined) {
    const helper = isPlainObject(config.credHelpers) && typeof config.credHelpers[host] === "string";
    return helper || typeof config.credsStore === "string"
      ? `keeps the credentials for ${host} in a credential helper; put them into auth { username, password }`
      : `has no entry for ${host} under auths`;
  }
  const entry = auths[key] as Record<string, unknown>;
  if (typeof entry.username === "string" && typeof entry.password === "string") return { username: entry.username, password: entry.password };
  if (typeof entry.auth === "string") return decodeBasicAuth(entry.auth) ?? `has an auths."${key}".auth that is not base64 of username:password`;
  if (typeof entry.identitytoken === "string") return `holds an identity token for ${host}, which our spec cannot send; use a username and password`;
  return `has an empty entry for ${host}`;
}

/** Reads a file the source refers to, or notes that it could not. */
export function readReferenced(options: ImportOptions, file: string, path: string, what: string, notes: ConversionNote[]): string | undefined {
  const text = options.readFile?.(file);
  if (text === undefined) {
    notes.push({ path, message: `refers to ${file}, which could not be read; put the ${what} into the spec yourself` });
  }
  return text;
}

/** Collects mirrors by upstream in first-seen order; a second source entry for one upstream adds endpoints. */
export class MirrorCollector {
  private readonly byUpstream = new Map<string, MirrorDraft>();

  /** The draft for an upstream, created on first use. Docker Hub's names share one draft. */
  mirror(upstream: string): MirrorDraft {
    const key = upstream === "*" ? "*" : canonicalUpstream(upstream);
    let draft = this.byUpstream.get(key);
    if (!draft) {
      draft = { upstream: key, endpoints: [] };
      this.byUpstream.set(key, draft);
    }
    return draft;
  }

  /** Every mirror that has at least one endpoint, as plain spec objects without undefined fields. */
  mirrors(): Mirror[] {
    return [...this.byUpstream.values()].filter((m) => m.endpoints.length > 0).map(cleanMirror);
  }
}

/** A spec object without `undefined` fields (so YAML and equality checks see only what was set). */
export function cleanMirror(draft: MirrorDraft): Mirror {
  const endpoints = draft.endpoints.map(
    (ep) => Object.fromEntries(Object.entries(ep).filter(([, v]) => v !== undefined)) as unknown as MirrorEndpoint,
  );
  return {
    upstream: draft.upstream,
    endpoints,
    ...(draft.fallback !== undefined ? { fallback: draft.fallback } : {}),
    ...(draft.digestOnly !== undefined ? { digestOnly: draft.digestOnly } : {}),
  };
}

/** Validates an imported spec; its problems say what the source held that our spec refuses. */
export function finishImport(mirrors: Mirror[], notes: ConversionNote[], format: string): { mirrors: Mirror[]; notes: ConversionNote[] } {
  const problems = findProblems(mirrors);
  if (problems.length > 0) throw new RegistryMirrorsError(problems, `the spec imported from ${format} is invalid`);
  return { mirrors, notes };
}

/** Validates our spec before an export; the export's own problems are added by the caller. */
export function specProblems(mirrors: unknown): Problem[] {
  return findProblems(mirrors);
}

/** Keys of a record sorted by code unit, so exported documents are byte-stable. */
export function sortedKeys(record: Record<string, unknown>): string[] {
  return Object.keys(record).sort(compareCodeUnits);
}

/** True when an endpoint's capabilities are containerd's default (pull and resolve, no push). */
export function hasDefaultCapabilities(mirror: Mirror, endpoint: MirrorEndpoint): boolean {
  if (mirror.digestOnly) return false;
  const caps = endpoint.capabilities ?? ["pull", "resolve"];
  return caps.includes("pull") && caps.includes("resolve") && !caps.includes("push");
}
