import type { Capability, Mirror, MirrorEndpoint } from "../model/types";
import { canonicalUpstream } from "../model/validate";
import type { PlannedFile } from "./types";

/** Header written at the top of every file this tool owns, so people (and cleanup) can tell. */
export const OWNED_MARKER = "Managed by registry-mirrors";

/** The capabilities containerd gets when the spec gives none. */
export const DEFAULT_CAPABILITIES: readonly Capability[] = ["pull", "resolve"];

/** True when `upstream` names Docker Hub under any of its names. */
export function isDockerHub(upstream: string): boolean {
  return canonicalUpstream(upstream) === "docker.io";
}

/** An endpoint URL split into the parts the renderers need. Only called on validated input. */
export interface ParsedEndpoint {
  /** `http` or `https`. */
  scheme: "http" | "https";
  /** `host[:port]` as written (host lower-cased). */
  hostPort: string;
  /** Path without trailing slash; `""` when the URL has none. */
  path: string;
  /** `scheme://host[:port][path]`, the canonical form used as containerd's host key. */
  url: string;
}

/** Splits a validated endpoint URL. */
export function parseEndpointUrl(raw: string): ParsedEndpoint {
  const u = new URL(raw);
  const scheme = u.protocol === "http:" ? "http" : "https";
  const hostPort = u.port ? `${u.hostname}:${u.port}` : u.hostname;
  const path = u.pathname.replace(/\/+$/, "");
  return { scheme, hostPort, path, url: `${scheme}://${hostPort}${path}` };
}

/**
 * True when the endpoint's path is not the registry API root (`""` or `/v2`): the mirror serves the upstream under
 * that path. containerd then needs `override_path` (it appends `/v2` to a host path otherwise); containers/image
 * can only express it as a path below `/v2/`.
 */
export function needsOverridePath(endpoint: ParsedEndpoint): boolean {
  return endpoint.path !== "" && endpoint.path !== "/v2";
}

/** The capabilities an endpoint gets: digest-only mirrors may only pull. */
export function effectiveCapabilities(mirror: Mirror, endpoint: MirrorEndpoint): Capability[] {
  if (mirror.digestOnly) return ["pull"];
  const caps = endpoint.capabilities ?? DEFAULT_CAPABILITIES;
  // containerd treats the list as a set; a fixed order keeps renders byte-stable.
  return (["pull", "resolve", "push"] as const).filter((c) => caps.includes(c));
}

/** The URL containerd uses for an upstream when it is the last resort. */
export function upstreamServerUrl(upstream: string): string {
  return isDockerHub(upstream) ? "https://registry-1.docker.io" : `https://${upstream}`;
}

/** A file-name-safe form of `host[:port]`, e.g. `172.18.0.20_5000`. */
export function hostSlug(hostPort: string): string {
  return hostPort.replace(/[^A-Za-z0-9.-]/g, "_");
}

/** Directory name containerd looks up for an upstream: `host[:port]`, or `_default` for `"*"`. */
export function hostsDirName(upstream: string): string {
  // containerd normalises every Docker Hub reference to docker.io before it looks for the directory.
  return upstream === "*" ? "_default" : canonicalUpstream(upstream);
}

/** base64 of `username:password`, as HTTP basic auth and containers-auth.json carry it. */
export function basicCredentials(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`, "utf8").toString("base64");
}

/** Basic auth header value for `username:password`. */
export function basicAuthHeader(username: string, password: string): string {
  return `Basic ${basicCredentials(username, password)}`;
}

/** Joins directory and file name with exactly one slash. */
export function joinPath(dir: string, name: string): string {
  return `${dir.replace(/\/+$/, "")}/${name}`;
}

/** The order of every sorted key and path in a plan: by UTF-16 code unit, independent of locale. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Sorts a record's keys so rendered output does not depend on input key order. */
export function sortedEntries<T>(record: Record<string, T> | undefined): [string, T][] {
  return Object.entries(record ?? {}).sort(([a], [b]) => compareCodeUnits(a, b));
}

/** Files sorted by path, so plans are byte-stable. */
export function sortFiles(files: PlannedFile[]): PlannedFile[] {
  return [...files].sort((a, b) => compareCodeUnits(a.path, b.path));
}

/** A PEM file's content: the PEM with exactly one final newline. */
export function pemFile(pem: string): string {
  return `${pem.trim()}\n`;
}
