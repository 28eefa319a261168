import { stringify } from "smol-toml";
import type { Capability, Mirror } from "../../model/types";
import type { PlannedFile } from "../types";
import {
  OWNED_MARKER,
  basicAuthHeader,
  effectiveCapabilities,
  hostSlug,
  hostsDirName,
  joinPath,
  needsOverridePath,
  pemFile,
  parseEndpointUrl,
  sortedEntries,
  upstreamServerUrl,
} from "../common";

/** One `[host."…"]` table of a hosts.toml, with file references already resolved to absolute paths. */
export interface HostEntry {
  /** Canonical URL, the table key. */
  url: string;
  capabilities: Capability[];
  ca?: string[];
  client?: [string, string][];
  skipVerify?: boolean;
  overridePath?: boolean;
  headers?: Record<string, string>;
}

/** The content of one hosts.toml, before serialisation. */
export interface HostsFile {
  /** Directory name under the hosts directory (`docker.io`, `registry.local:5000`, `_default`). */
  dirName: string;
  /** The `server` entry; `undefined` lets containerd use the image's own registry. */
  server?: HostEntry;
  /** Mirrors in the order they are tried. */
  hosts: HostEntry[];
  /** One line saying where this file came from, for the header. */
  origin: string;
}

/** The certificate files of one endpoint, as written beside its hosts.toml. */
export interface EndpointTlsFiles {
  ca?: PlannedFile;
  clientCert?: PlannedFile;
  clientKey?: PlannedFile;
}

/** A mirror as hosts.toml: see {@link mirrorToHostsFile}. */
export interface MirrorHostsFile {
  file: HostsFile;
  /** Every certificate file the hosts.toml references. */
  certs: PlannedFile[];
  /**
   * The same files per endpoint host (`host[:port]`, the key of config.toml's deprecated `configs` table), for
   * endpoints that have any.
   */
  tlsFiles: Map<string, EndpointTlsFiles>;
}

/**
 * Turns one validated mirror into its hosts.toml model plus the certificate files it references
 * (written beside hosts.toml, referenced by absolute path).
 */
export function mirrorToHostsFile(mirror: Mirror, hostsDir: string): MirrorHostsFile {
  const dirName = hostsDirName(mirror.upstream);
  const dir = joinPath(hostsDir, dirName);
  const certs: PlannedFile[] = [];
  const tlsFiles = new Map<string, EndpointTlsFiles>();
  const usedSlugs = new Map<string, number>();

  const hosts = mirror.endpoints.map((endpoint): HostEntry => {
    const parsed = parseEndpointUrl(endpoint.url);
    // Two endpoints on one host (different paths) must not share certificate file names.
    let slug = hostSlug(parsed.hostPort);
    const seen = usedSlugs.get(slug) ?? 0;
    usedSlugs.set(slug, seen + 1);
    if (seen > 0) slug = `${slug}-${seen + 1}`;

    const entry: HostEntry = { url: parsed.url, capabilities: effectiveCapabilities(mirror, endpoint) };
    const tls: EndpointTlsFiles = {};
    if (endpoint.caCert) {
      tls.ca = { path: joinPath(dir, `${slug}.ca.crt`), content: pemFile(endpoint.caCert), mode: 0o644 };
      entry.ca = [tls.ca.path];
    }
    if (endpoint.clientCert && endpoint.clientKey) {
      tls.clientCert = { path: joinPath(dir, `${slug}.client.cert`), content: pemFile(endpoint.clientCert), mode: 0o644 };
      tls.clientKey = { path: joinPath(dir, `${slug}.client.key`), content: pemFile(endpoint.clientKey), mode: 0o600, secret: true };
      entry.client = [[tls.clientCert.path, tls.clientKey.path]];
    }
    const files = [tls.ca, tls.clientCert, tls.clientKey].filter((f) => f !== undefined);
    if (files.length > 0) {
      certs.push(...files);
      tlsFiles.set(parsed.hostPort, tls);
    }
    if (endpoint.skipVerify !== undefined) entry.skipVerify = endpoint.skipVerify;
    if (needsOverridePath(parsed)) entry.overridePath = true;
    const headers: Record<string, string> = {};
    for (const [name, value] of sortedEntries(endpoint.headers)) headers[name] = value;
    if (endpoint.auth) headers["Authorization"] = basicAuthHeader(endpoint.auth.username, endpoint.auth.password);
    if (Object.keys(headers).length > 0) entry.headers = headers;
    return entry;
  });

  // fallback: false makes the first mirror the `server` too, so the last resort is a mirror, never the upstream.
  // Omitting `server` would not do it: containerd then falls back to the image's own registry.
  const fallback = mirror.fallback !== false;
  const server: HostEntry | undefined = fallback
    ? mirror.upstream === "*"
      ? undefined
      : { url: upstreamServerUrl(mirror.upstream), capabilities: [] }
    : hosts[0];
  return { file: { dirName, server, hosts, origin: `the mirror of ${mirror.upstream}` }, certs, tlsFiles };
}

/** The TOML keys of one host entry, in containerd's documented order. */
function hostTable(entry: HostEntry): Record<string, unknown> {
  const table: Record<string, unknown> = {};
  if (entry.capabilities.length > 0) table.capabilities = entry.capabilities;
  if (entry.ca) table.ca = entry.ca;
  if (entry.client) table.client = entry.client;
  if (entry.skipVerify !== undefined) table.skip_verify = entry.skipVerify;
  if (entry.overridePath) table.override_path = true;
  if (entry.headers) table.header = entry.headers;
  return table;
}

/** Serialises a hosts.toml with smol-toml, behind a header naming the owner. */
export function renderHostsToml(file: HostsFile): string {
  const doc: Record<string, unknown> = {};
  if (file.server) {
    doc.server = file.server.url;
    Object.assign(doc, hostTable(file.server));
  }
  const hostTables: Record<string, unknown> = {};
  for (const host of file.hosts) hostTables[host.url] = hostTable(host);
  // containerd 1.6/1.7 ignore a hosts.toml without a [host] table (invalid `host` tree), so there is always one.
  doc.host = hostTables;
  const header = [
    `# ${OWNED_MARKER} from ${file.origin}. Do not edit: changes are overwritten.`,
    "# Mirrors are tried in order; `server` is the last resort.",
    "",
  ].join("\n");
  return `${header}\n${stringify(doc).trimEnd()}\n`;
}

/** True for a hosts.toml this tool wrote from a legacy config.toml entry (see legacy.ts, `legacyToHostsFile`). */
export function isMigratedHostsToml(content: string): boolean {
  return content.startsWith(`# ${OWNED_MARKER} from config.toml registry.mirrors.`) && content.split("\n", 1)[0].includes("(migrated)");
}

/** Path of the hosts.toml for a directory name. */
export function hostsTomlPath(hostsDir: string, dirName: string): string {
  return joinPath(joinPath(hostsDir, dirName), "hosts.toml");
}
