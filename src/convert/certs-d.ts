/**
 * A containerd hosts directory (`config_path`, usually `/etc/containerd/certs.d`): one `<registry>/hosts.toml` per
 * upstream (`_default` for every other registry) with `server`, `[host."<url>"]` tables in order, `capabilities`,
 * `ca`, `client`, `skip_verify`, `override_path` and `header`, plus the certificate files they name.
 *
 * Source: containerd docs/hosts.md (v1.7 and v2.x: the fields above; `ca` a path or list of paths, `client` a path, a
 * [cert, key] pair or a list of those; relative paths are relative to the registry's directory; `server` defaults
 * to the registry itself and is tried last; host entries default to pull and resolve; `_default`) and
 * remotes/docker/config/hosts.go (`override_path`: the path is the API root, else `/v2` is appended). Our renderer
 * (src/render/containerd/hosts.ts) writes the inverse: credentials as an `Authorization: Basic` header, and with
 * `fallback: false` the first mirror as `server`.
 *
 * The directory is passed as a map of relative path → content, so the converter reads no disk.
 */
import { parse } from "smol-toml";
import { RegistryMirrorsError, type Capability } from "../model/types";
import { compareCodeUnits } from "../render/common";
import {
  MirrorCollector,
  decodeBasicAuth,
  finishImport,
  fromContainerdHost,
  isPlainObject,
  noteUnknownFields,
  type EndpointDraft,
  type MirrorDraft,
} from "./common";
import type { ConversionNote, ImportResult } from "./types";

/** Options of {@link importCertsD}. */
export interface CertsDOptions {
  /** Where the directory is on the node, to resolve absolute certificate paths. Default `/etc/containerd/certs.d`. */
  readonly hostsDir?: string;
}

const HOST_FIELDS = ["capabilities", "ca", "client", "skip_verify", "override_path", "header"];
const SERVER_FIELDS = ["server", "host", ...HOST_FIELDS];
const DEFAULT_CAPABILITIES = ["pull", "resolve"];

/** Resolves a certificate path of `<dir>/hosts.toml` to a key of `files`. */
function resolveFile(ref: string, dir: string, files: Readonly<Record<string, string>>, hostsDir: string): string | undefined {
  const candidates = ref.startsWith("/")
    ? [ref.startsWith(`${hostsDir}/`) ? ref.slice(hostsDir.length + 1) : "", ...Object.keys(files).filter((k) => ref.endsWith(`/${k}`))]
    : [`${dir}/${ref.replace(/^\.\//, "")}`];
  return candidates.find((c) => c !== "" && c in files);
}

/** The upstream's own server URLs, for telling a fallback `server` from a mirror used as last resort. */
function isUpstreamServer(server: string, upstream: string): boolean {
  const url = server.replace(/\/+$/, "").replace(/\/v2$/, "");
  const own = upstream === "docker.io" ? ["https://registry-1.docker.io", "https://index.docker.io", "https://docker.io"] : [`https://${upstream}`];
  return own.includes(url);
}

/** Reads one host table into an endpoint, resolving certificate files and turning a Basic header into auth. */
function readHost(
  table: Record<string, unknown>,
  url: string,
  at: string,
  dir: string,
  files: Readonly<Record<string, string>>,
  used: Set<string>,
  hostsDir: string,
  notes: ConversionNote[],
): EndpointDraft {
  const endpoint: EndpointDraft = { url: fromContainerdHost(url, table.override_path === true) };
  const caps = table.capabilities;
  if (Array.isArray(caps)) {
    const known = caps.filter((c): c is Capability => c === "pull" || c === "resolve" || c === "push");
    const isDefault = known.length === DEFAULT_CAPABILITIES.length && DEFAULT_CAPABILITIES.every((c) => known.includes(c as Capability));
    if (!isDefault) endpoint.capabilities = (["pull", "resolve", "push"] as const).filter((c) => known.includes(c));
  }
  const file = (ref: unknown, path: string, what: string): string | undefined => {
    if (typeof ref !== "string") return undefined;
    const key = resolveFile(ref, dir, files, hostsDir);
    if (key === undefined) {
      notes.push({ path, message: `refers to ${ref}, which is not in the directory; put the ${what} into the spec yourself` });
      return undefined;
    }
    used.add(key);
    return files[key];
  };
  const cas = typeof table.ca === "string" ? [table.ca] : Array.isArray(table.ca) ? table.ca : [];
  const caTexts = cas.map((ca, k) => file(ca, `${at}.ca[${k}]`, "CA certificate (caCert)")).filter((t) => t !== undefined);
  if (caTexts.length > 0) endpoint.caCert = `${caTexts.map((t) => t.trim()).join("\n")}\n`;
  const clients = typeof table.client === "string" ? [table.client] : Array.isArray(table.client) ? table.client : [];
  clients.forEach((client, k) => {
    if (k > 0) {
      notes.push({ path: `${at}.client[${k}]`, message: "is a further client certificate; our spec holds one per endpoint, so it was not imported" });
      return;
    }
    const [cert, key] = typeof client === "string" ? [client, undefined] : Array.isArray(client) ? client : [];
    endpoint.clientCert = file(cert, `${at}.client[${k}]`, "client certificate (clientCert)");
    if (key === undefined) notes.push({ path: `${at}.client[${k}]`, message: "names a certificate without its key file; set clientKey yourself" });
    else endpoint.clientKey = file(key, `${at}.client[${k}]`, "client key (clientKey)");
  });
  if (typeof table.skip_verify === "boolean") endpoint.skipVerify = table.skip_verify;
  const header = isPlainObject(table.header) ? table.header : {};
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(header)) {
    const values = Array.isArray(value) ? value : [value];
    if (values.length !== 1 || typeof values[0] !== "string") {
      notes.push({ path: `${at}.header.${name}`, message: "has several values; our spec sends one value per header, so it was not imported" });
      continue;
    }
    const basic = name.toLowerCase() === "authorization" ? /^Basic\s+(\S+)$/i.exec(values[0]) : null;
    const auth = basic ? decodeBasicAuth(basic[1]) : undefined;
    if (auth) endpoint.auth = auth;
    else headers[name] = values[0];
  }
  if (Object.keys(headers).length > 0) endpoint.headers = headers;
  return endpoint;
}

/** Imports one registry directory's hosts.toml into a mirror draft. */
function importHostsToml(
  dir: string,
  text: string,
  draft: MirrorDraft,
  files: Readonly<Record<string, string>>,
  used: Set<string>,
  hostsDir: string,
  notes: ConversionNote[],
): void {
  const source = `${dir}/hosts.toml`;
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new RegistryMirrorsError([{ path: source, message: `is not valid TOML: ${(e as Error).message.split("\n")[0]}` }], "cannot import certs.d");
  }
  noteUnknownFields(doc, SERVER_FIELDS, source, notes, "hosts.toml");
  const hosts = isPlainObject(doc.host) ? doc.host : {};
  for (const [url, table] of Object.entries(hosts)) {
    const at = `${source}: host."${url}"`;
    if (!isPlainObject(table)) continue;
    noteUnknownFields(table, HOST_FIELDS, at, notes, "hosts.toml host");
    draft.endpoints.push(readHost(table, url, at, dir, files, used, hostsDir, notes));
  }
  const server = typeof doc.server === "string" ? doc.server : undefined;
  if (server === undefined || (draft.upstream !== "*" && isUpstreamServer(server, draft.upstream))) {
    const serverSettings = HOST_FIELDS.filter((f) => f !== "capabilities" && doc[f] !== undefined);
    for (const field of serverSettings) {
      notes.push({
        path: `${source}: ${field}`,
        message: "configures the upstream registry itself; our spec configures mirrors only, so it was not imported",
      });
    }
    return;
  }
  // A server that is not the upstream is the last resort: the upstream is never contacted.
  draft.fallback = false;
  const endpoint = readHost(doc, server, `${source}: server`, dir, files, used, hostsDir, notes);
  const known = draft.endpoints.some((e) => e.url.replace(/\/+$/, "") === endpoint.url.replace(/\/+$/, ""));
  if (!known) draft.endpoints.push(endpoint);
}

/**
 * Imports a containerd hosts directory (certs.d) into our spec.
 *
 * @param files - Path relative to the hosts directory (`docker.io/hosts.toml`, `docker.io/ca.crt`) → file content.
 * @param options - Where the directory lives on the node, to resolve the absolute paths hosts.toml files use.
 * @returns One mirror per directory with a hosts.toml, and notes for files and settings our spec cannot hold.
 * @throws RegistryMirrorsError for a hosts.toml that does not parse, or an invalid result.
 */
export function importCertsD(files: Readonly<Record<string, string>>, options: CertsDOptions = {}): ImportResult {
  const hostsDir = (options.hostsDir ?? "/etc/containerd/certs.d").replace(/\/+$/, "");
  const notes: ConversionNote[] = [];
  const used = new Set<string>();
  const collector = new MirrorCollector();
  const hostsFiles = Object.keys(files)
    .filter((p) => /^[^/]+\/hosts\.toml$/.test(p))
    .sort(compareCodeUnits);
  for (const path of hostsFiles) {
    const dir = path.slice(0, path.indexOf("/"));
    used.add(path);
    const draft = collector.mirror(dir === "_default" ? "*" : dir);
    importHostsToml(dir, files[path], draft, files, used, hostsDir, notes);
    if (draft.endpoints.length === 0) notes.push({ path, message: "lists no mirror ([host] table), so it was not imported" });
  }
  for (const path of Object.keys(files).sort(compareCodeUnits)) {
    if (used.has(path)) continue;
    const why = /\.(crt|cert|key|pem)$/.test(path) ? "a certificate no hosts.toml refers to (Docker-style certs.d)" : "no hosts.toml";
    notes.push({ path, message: `is ${why}; it was not imported` });
  }
  return finishImport(collector.mirrors(), notes, "certs.d");
}
