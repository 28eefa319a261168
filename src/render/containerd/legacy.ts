/**
 * containerd's deprecated mirror tables in config.toml: `registry.mirrors."<upstream>"` and
 * `registry.configs."<host>".tls`. containerd fails to load its CRI plugin when they are set together with
 * `config_path`, so a live file that has them is refused (`legacy: "refuse"`), has them moved into hosts.toml files
 * (`migrate`), or gets our mirrors written into them instead of hosts.toml (`write`).
 */
import { RegistryMirrorsError, type Mirror, type Problem, type RuntimeInfo } from "../../model/types";
import { isPlainObject } from "../../model/plain-object";
import { canonicalUpstream, upstreamProblem } from "../../model/validate";
import { versionAtLeast } from "../../model/version";
import { effectiveCapabilities, hostsDirName, needsOverridePath, parseEndpointUrl, upstreamServerUrl } from "../common";
import { appendTable, deletePath, firstDifference, getPath, parseToml, pruneEmpty, removeKeys, setPath, tomlKeyPart } from "../toml-text";
import { failConfig, proveConfigEdit } from "./config-edit";
import type { EndpointTlsFiles, HostEntry, HostsFile } from "./hosts";

/** A legacy mirror entry found in config.toml. */
export interface LegacyMirror {
  upstream: string;
  endpoints: string[];
}

/** The deprecated entries of a parsed config.toml's registry table. */
export interface LegacyEntries {
  /** `registry.mirrors` entries. */
  mirrors: LegacyMirror[];
  /** Hosts with a `registry.configs."<host>".tls` table. */
  tlsHosts: string[];
  /** The `registry.configs` table, where the TLS settings of migrated mirrors come from. */
  configs: unknown;
}

/** Finds the deprecated entries under `registry` (the registry table's key path for the file's schema). */
export function findLegacyEntries(doc: Record<string, unknown>, registry: readonly string[]): LegacyEntries {
  const mirrors = getPath(doc, [...registry, "mirrors"]);
  const configs = getPath(doc, [...registry, "configs"]);
  return {
    mirrors: isPlainObject(mirrors)
      ? Object.entries(mirrors).map(([upstream, entry]) => {
          const endpoint = isPlainObject(entry) ? entry.endpoint : undefined;
          return { upstream, endpoints: Array.isArray(endpoint) ? endpoint.map(String) : [] };
        })
      : [],
    tlsHosts: isPlainObject(configs)
      ? Object.entries(configs)
          .filter(([, c]) => isPlainObject(c) && c.tls !== undefined)
          .map(([host]) => host)
      : [],
    configs,
  };
}

/**
 * True when the entries cannot stay beside `config_path`: any mirror, and `configs.*.tls` in a schema 1 or 2 file
 * (schema 3 moved TLS settings to hosts.toml, so containerd 2.x ignores them there).
 */
export function conflictsWithConfigPath(entries: LegacyEntries, version: number): boolean {
  return entries.mirrors.length > 0 || (entries.tlsHosts.length > 0 && version <= 2);
}

/** The result of {@link moveLegacyOut}. */
export interface LegacyMigration {
  /** The config.toml text without the deprecated entries. */
  text: string;
  /** Key paths removed from the file (for the caller's proof of the whole edit). */
  removed: string[][];
  /** The legacy mirrors as hosts.toml files; not those whose upstream a mirror of the spec replaces. */
  migrated: HostsFile[];
}

/**
 * `refuse` and `migrate`, for entries that {@link conflictsWithConfigPath}: refuse throws, naming every entry and
 * the two ways out; migrate removes them from `text` and returns hosts.toml files for the mirrors.
 */
export function moveLegacyOut(
  text: string,
  entries: LegacyEntries,
  registry: readonly string[],
  legacy: "refuse" | "migrate",
  mirrors: readonly Mirror[],
  warnings: string[],
): LegacyMigration {
  if (legacy === "refuse") refuseLegacy(entries, registry);
  const ours = new Set(mirrors.map((m) => canonicalUpstream(m.upstream)));
  const migrated: HostsFile[] = [];
  for (const mirror of entries.mirrors) {
    if (ours.has(canonicalUpstream(mirror.upstream))) {
      warnings.push(`legacy mirror for ${mirror.upstream} in config.toml is replaced by mirrors for the same upstream`);
      continue;
    }
    migrated.push(legacyToHostsFile(mirror, entries.configs));
  }
  const removed = [[...registry, "mirrors"], ...entries.tlsHosts.map((host) => [...registry, "configs", host, "tls"])];
  warnings.push(
    `moved deprecated registry entries out of config.toml: ${[
      ...entries.mirrors.map((m) => `mirrors."${m.upstream}"`),
      ...entries.tlsHosts.map((h) => `configs."${h}".tls`),
    ].join(", ")}`,
  );
  return { text: removeKeys(text, removed), removed, migrated };
}

function refuseLegacy(entries: LegacyEntries, registry: readonly string[]): never {
  const table = registry.map(tomlKeyPart).join(".");
  const found = [
    ...entries.mirrors.map((m) => `${table}.mirrors."${m.upstream}" (endpoint = ${JSON.stringify(m.endpoints)})`),
    ...entries.tlsHosts.map((h) => `${table}.configs."${h}".tls`),
  ];
  return failConfig(
    `config.toml uses the deprecated registry format: ${found.join("; ")}. containerd fails to load its CRI plugin ` +
      "when these are set together with config_path, so config_path is not added. Choose one: " +
      'legacy: "migrate" moves these entries into hosts.toml files and sets config_path; ' +
      'legacy: "write" keeps the deprecated format and writes the mirrors into it instead of hosts.toml',
    "legacy",
  );
}

/** A legacy mirror as a hosts.toml: its TLS settings come from `configs."<endpoint host>".tls`. */
function legacyToHostsFile(legacy: LegacyMirror, configs: unknown): HostsFile {
  // The name becomes a directory under the hosts directory: the same rules as a spec's upstream keep it one
  // directory there (no "/", "..", whitespace), and one that containerd looks up for image references.
  const nameProblem = upstreamProblem(canonicalUpstream(legacy.upstream));
  if (nameProblem) {
    failConfig(
      `legacy mirror "${legacy.upstream}" cannot be migrated to a hosts directory (${nameProblem}); fix or remove the entry in config.toml first`,
    );
  }
  const upstreamUrl = legacy.upstream === "*" ? undefined : upstreamServerUrl(legacy.upstream);
  const hosts: HostEntry[] = [];
  for (const raw of legacy.endpoints) {
    let parsed;
    try {
      parsed = parseEndpointUrl(raw);
    } catch {
      return failConfig(`legacy mirror "${legacy.upstream}" has endpoint ${JSON.stringify(raw)}, which is not a URL; fix it before migrating`);
    }
    // The upstream is always tried last by the legacy format; in hosts.toml it is `server`.
    if (parsed.url === upstreamUrl) continue;
    const entry: HostEntry = { url: parsed.url, capabilities: ["pull", "resolve"] };
    if (needsOverridePath(parsed)) entry.overridePath = true;
    const tls = getPath(configs, [parsed.hostPort, "tls"]);
    if (isPlainObject(tls)) {
      const file = (key: string): string | undefined => {
        const v = tls[key];
        if (typeof v !== "string" || v === "") return undefined;
        if (!v.startsWith("/")) {
          failConfig(`legacy configs."${parsed.hostPort}".tls.${key} = "${v}" is relative; make it absolute before migrating`);
        }
        return v;
      };
      const ca = file("ca_file");
      const cert = file("cert_file");
      const key = file("key_file");
      if (ca) entry.ca = [ca];
      if (cert) entry.client = [[cert, key ?? ""]];
      if (typeof tls.insecure_skip_verify === "boolean") entry.skipVerify = tls.insecure_skip_verify;
    }
    hosts.push(entry);
  }
  return {
    // The directory containerd looks up: lower-cased, Docker Hub under any name as docker.io.
    dirName: hostsDirName(legacy.upstream),
    server: upstreamUrl ? { url: upstreamUrl, capabilities: [] } : undefined,
    hosts,
    origin: `config.toml registry.mirrors."${legacy.upstream}" (migrated)`,
  };
}

/** Input of {@link planLegacyWrite}. */
export interface LegacyWriteInput {
  /** The node's config.toml as read. */
  live: string;
  /** The text to edit: `live`, or a fresh file when the node has none. */
  text: string;
  /** The registry table's key path for the file's schema. */
  registry: readonly string[];
  /** The registry table's `config_path`, as the file sets it. */
  configPath: unknown;
  runtime: RuntimeInfo;
  mirrors: readonly Mirror[];
  /** The certificate files written beside hosts.toml, per endpoint host: `configs."<host>".tls` points at them. */
  tlsFiles: ReadonlyMap<string, EndpointTlsFiles>;
}

/**
 * `legacy: "write"`: our mirrors go into `registry.mirrors` / `registry.configs` of config.toml and `config_path`
 * stays unset. Only what that format can express is accepted. Returns the new text, or `undefined` when the live
 * file already holds exactly these entries.
 */
export function planLegacyWrite(input: LegacyWriteInput, warnings: string[]): string | undefined {
  const { registry } = input;
  if (typeof input.configPath === "string" && input.configPath !== "") {
    failConfig(
      `config.toml sets config_path = "${input.configPath}"; the deprecated mirrors format cannot be used together with it. Use legacy: "migrate" or remove config_path`,
      "legacy",
    );
  }
  if (input.runtime.version && versionAtLeast(input.runtime.version, "2.2.0") && !versionAtLeast(input.runtime.version, "2.2.2")) {
    failConfig(
      `containerd ${input.runtime.version} fails to load the CRI plugin with deprecated mirrors in a version 2 file (containerd #12612, fixed in 2.2.2); upgrade or use hosts.toml`,
      "legacy",
    );
  }
  const isV2Runtime = versionAtLeast(input.runtime.version, "2.0.0-alpha");
  const problems: Problem[] = [];
  const mirrorsTable: Record<string, Record<string, unknown>> = {};
  const configsTable: Record<string, Record<string, unknown>> = {};
  input.mirrors.forEach((mirror, i) => {
    const at = `mirrors[${i}]`;
    if (mirror.fallback === false)
      problems.push({
        path: `${at}.fallback`,
        message: 'the deprecated mirrors format always falls back to the upstream; remove fallback: false or use hosts.toml (legacy: "migrate")',
      });
    if (mirror.digestOnly)
      problems.push({
        path: `${at}.digestOnly`,
        message: "the deprecated mirrors format cannot restrict mirrors to digest pulls; remove digestOnly or use hosts.toml",
      });
    const endpoints: string[] = [];
    mirror.endpoints.forEach((endpoint, j) => {
      const ep = `${at}.endpoints[${j}]`;
      const parsed = parseEndpointUrl(endpoint.url);
      endpoints.push(parsed.url);
      const caps = effectiveCapabilities(mirror, endpoint);
      if (!(caps.includes("pull") && caps.includes("resolve")))
        problems.push({
          path: `${ep}.capabilities`,
          message: "the deprecated mirrors format cannot restrict capabilities; remove them or use hosts.toml",
        });
      if (endpoint.headers && Object.keys(endpoint.headers).length > 0)
        problems.push({ path: `${ep}.headers`, message: "the deprecated mirrors format cannot send headers; remove them or use hosts.toml" });
      const hasTls = endpoint.caCert || endpoint.clientCert || endpoint.skipVerify !== undefined;
      if (hasTls && isV2Runtime)
        problems.push({
          path: ep,
          message: `containerd ${input.runtime.version} removed configs.*.tls; use hosts.toml (legacy: "migrate") for CA, client certificates and skipVerify`,
        });
      const config: Record<string, unknown> = {};
      if (hasTls) {
        const files = input.tlsFiles.get(parsed.hostPort) ?? {};
        const tls: Record<string, unknown> = {};
        if (files.ca) tls.ca_file = files.ca.path;
        if (files.clientCert) tls.cert_file = files.clientCert.path;
        if (files.clientKey) tls.key_file = files.clientKey.path;
        if (endpoint.skipVerify !== undefined) tls.insecure_skip_verify = endpoint.skipVerify;
        config.tls = tls;
      }
      if (endpoint.auth) {
        config.auth = { username: endpoint.auth.username, password: endpoint.auth.password };
      }
      if (Object.keys(config).length > 0) {
        if (configsTable[parsed.hostPort])
          problems.push({
            path: ep,
            message: `another endpoint already configures ${parsed.hostPort}; the deprecated format has one configs entry per host`,
          });
        configsTable[parsed.hostPort] = config;
      }
    });
    mirrorsTable[canonicalUpstream(mirror.upstream)] = { endpoint: endpoints };
  });
  if (problems.length > 0) throw new RegistryMirrorsError(problems, 'cannot use legacy: "write"');

  const parsedBefore = parseToml(input.text);
  const expected = structuredClone(parsedBefore);
  const owned = [
    ...Object.keys(mirrorsTable).map((u) => [...registry, "mirrors", u]),
    ...Object.keys(configsTable).map((h) => [...registry, "configs", h]),
  ];
  let edited = removeKeys(input.text, owned);
  for (const path of owned) deletePath(expected, path);
  for (const [table, entries] of [
    ["mirrors", mirrorsTable],
    ["configs", configsTable],
  ] as const) {
    for (const [key, value] of Object.entries(entries)) {
      edited = appendTable(edited, [...registry, table, key], value);
      setPath(expected, [...registry, table, key], value);
    }
  }
  warnings.push('mirrors are written in containerd\'s deprecated registry.mirrors format (legacy: "write"); containerd restarts on every change');
  // Unchanged when the live file already holds exactly these entries.
  const unchanged = firstDifference(pruneEmpty(parsedBefore), pruneEmpty(expected)) === undefined;
  if (unchanged && input.text === input.live) return undefined;
  proveConfigEdit(expected, edited);
  return edited;
}
