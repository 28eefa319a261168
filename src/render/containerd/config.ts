/**
 * containerd's config.toml: find the registry table for the file's schema, point `config_path` at the hosts
 * directory, and handle the deprecated `registry.mirrors` / `registry.configs` tables. Every edit is made on the
 * text (comments, order and other settings survive) and proven with a smol-toml parse of before and after.
 */
import { stringify } from "smol-toml";
import { RegistryMirrorsError, type LegacyMode, type Mirror, type RuntimeInfo } from "../../model/types";
import { versionAtLeast } from "../../model/version";
import { OWNED_MARKER, effectiveCapabilities, hostsDirName, needsOverridePath, parseEndpointUrl, upstreamServerUrl } from "../common";
import { canonicalUpstream } from "../../model/validate";
import { isPlainObject } from "../../model/plain-object";
import type { HostEntry, HostsFile } from "./hosts";
import {
  type TomlText,
  deletePath,
  firstDifference,
  getPath,
  hasPrefix,
  joinLines,
  parseToml,
  pruneEmpty,
  replaceValueLine,
  sectionEnd,
  segmentToml,
  setPath,
  tomlKeyPart,
  tomlKeyValue,
} from "../toml-text";

/** containerd config schema versions and where each keeps the CRI registry settings. */
const REGISTRY_TABLE: Record<number, string[]> = {
  1: ["plugins", "cri", "registry"],
  2: ["plugins", "io.containerd.grpc.v1.cri", "registry"],
  3: ["plugins", "io.containerd.cri.v1.images", "registry"],
  4: ["plugins", "io.containerd.cri.v1.images", "registry"],
};

/** A legacy mirror entry found in config.toml. */
export interface LegacyMirror {
  upstream: string;
  endpoints: string[];
}

/** What the config.toml step decided. */
export interface ContainerdConfigPlan {
  /** New config.toml text, or undefined when the live file is already right. */
  content?: string;
  /** The hosts directory containerd will read (`config_path`), or undefined in legacy `write` mode. */
  hostsDir?: string;
  /** Legacy mirrors moved out of config.toml, to be written as hosts.toml files. */
  migrated: HostsFile[];
  warnings: string[];
}

/**
 * Which hosts directory `config_path` names. `fixed`: always this one (the component's choice: every file path is
 * then known before the node is read, so a preview can show it). `adopt`: the single directory config.toml already
 * names, so existing hosts.toml files keep working, a `:` list reduced to its first; this one when it names none.
 */
export type HostsDirChoice = { fixed: string } | { adopt: string };

/** Input of {@link planContainerdConfig}. */
export interface ContainerdConfigInput {
  live: string | undefined;
  runtime: RuntimeInfo;
  /** Which hosts directory config_path names: see {@link HostsDirChoice}. */
  hostsDir: HostsDirChoice;
  legacy: LegacyMode;
  mirrors: Mirror[];
  /** For `write` mode: TLS file paths per endpoint host, chosen by the caller. */
  legacyTlsFiles?: Map<string, { ca?: string; cert?: string; key?: string }>;
}

const fail = (message: string, path = "liveConfig"): never => {
  throw new RegistryMirrorsError([{ path, message }], "cannot configure containerd");
};

/** Plans the config.toml change for one node. */
export function planContainerdConfig(input: ContainerdConfigInput): ContainerdConfigPlan {
  const warnings: string[] = [];
  const isV2Runtime = versionAtLeast(input.runtime.version, "2.0.0-alpha");
  if (input.live === undefined) {
    const hostsDir = "fixed" in input.hostsDir ? input.hostsDir.fixed : input.hostsDir.adopt;
    warnings.push(`config.toml was not read, so it is left as it is: make sure its CRI registry table sets config_path = "${hostsDir}"`);
    return { hostsDir, migrated: [], warnings };
  }

  let before: Record<string, unknown>;
  try {
    before = parseToml(input.live);
  } catch (e) {
    return fail(`config.toml does not parse as TOML (${(e as Error).message.split("\n")[0]}); fix the file on the node first`);
  }
  const isFresh = Object.keys(before).length === 0;
  const version = isFresh ? (isV2Runtime ? 3 : 2) : schemaVersion(before);
  checkVersionMatchesRuntime(version, input.runtime, warnings);
  const registry = REGISTRY_TABLE[version];
  const text = isFresh ? freshConfig(version) : input.live;
  const parsedBefore = isFresh ? parseToml(text) : before;

  if (version >= 3) warnIgnoredV2Keys(parsedBefore, warnings);
  if (Array.isArray(parsedBefore.imports) && parsedBefore.imports.length > 0) {
    warnings.push(
      `config.toml imports ${JSON.stringify(parsedBefore.imports)}: a drop-in that sets the CRI registry table can override config_path` +
        (isV2Runtime ? "" : " (containerd 1.x replaces whole plugin tables from imports)"),
    );
  }

  const current = getPath(parsedBefore, [...registry, "config_path"]);
  const legacyMirrors = findLegacyMirrors(getPath(parsedBefore, [...registry, "mirrors"]));
  const legacyTls = findLegacyTls(getPath(parsedBefore, [...registry, "configs"]));

  if (input.legacy === "write") {
    return planLegacyWrite({ ...input, text, registry, current, isV2Runtime, warnings, version });
  }

  const conflicting = legacyMirrors.length > 0 || (legacyTls.length > 0 && version <= 2);
  let editedText = text;
  const migrated: HostsFile[] = [];
  const expected = structuredClone(parsedBefore);
  if (conflicting) {
    if (input.legacy === "refuse") refuseLegacy(legacyMirrors, legacyTls, registry);
    const ours = new Set(input.mirrors.map((m) => canonicalUpstream(m.upstream)));
    for (const legacy of legacyMirrors) {
      if (ours.has(canonicalUpstream(legacy.upstream))) {
        warnings.push(`legacy mirror for ${legacy.upstream} in config.toml is replaced by mirrors for the same upstream`);
        continue;
      }
      migrated.push(legacyToHostsFile(legacy, getPath(parsedBefore, [...registry, "configs"])));
    }
    const removed = [[...registry, "mirrors"], ...legacyTls.map((host) => [...registry, "configs", host, "tls"])];
    editedText = removeKeys(editedText, removed);
    for (const path of removed) deletePath(expected, path);
    warnings.push(
      `moved deprecated registry entries out of config.toml: ${[
        ...legacyMirrors.map((m) => `mirrors."${m.upstream}"`),
        ...legacyTls.map((h) => `configs."${h}".tls`),
      ].join(", ")}`,
    );
  }

  const hostsDir = chooseHostsDir(current, input, warnings);
  if (current !== hostsDir) {
    editedText = setConfigPath(editedText, registry, hostsDir);
  }
  setPath(expected, [...registry, "config_path"], hostsDir);
  const content = editedText === input.live ? undefined : editedText;
  if (content !== undefined) prove(expected, content);
  return { content, hostsDir, migrated, warnings };
}

/** The `version` of a parsed config; 1 when absent. */
function schemaVersion(doc: Record<string, unknown>): number {
  const v = doc.version ?? 1;
  if (typeof v !== "number" || !(v in REGISTRY_TABLE)) {
    return fail(`config.toml has version = ${JSON.stringify(v)}; supported are 1 (no version line), 2, 3 and 4`);
  }
  return v;
}

function checkVersionMatchesRuntime(version: number, runtime: RuntimeInfo, warnings: string[]): void {
  if (!runtime.version) {
    warnings.push(`containerd version unknown: assuming config.toml version ${version} matches the installed containerd`);
    return;
  }
  const v2 = versionAtLeast(runtime.version, "2.0.0-alpha");
  if (version >= 3 && !v2) {
    fail(`config.toml has version = ${version}, which containerd ${runtime.version} cannot read; it needs containerd 2.x or a version = 2 file`);
  }
  if (version === 1 && v2) {
    fail(
      `config.toml has no version line (schema 1), which containerd ${runtime.version} no longer supports; ` +
        "run `containerd config migrate > config.toml` on the node first",
    );
  }
  if (version === 2 && v2) {
    warnings.push(
      `config.toml is version 2 and containerd ${runtime.version} migrates it in memory on every start; consider \`containerd config migrate\``,
    );
  }
}

/** A version 3 file with version 2 registry keys: containerd ignores them ("Ignoring unknown key"). */
function warnIgnoredV2Keys(doc: Record<string, unknown>, warnings: string[]): void {
  if (getPath(doc, REGISTRY_TABLE[2]) !== undefined) {
    warnings.push('config.toml is version 3 but has a plugins."io.containerd.grpc.v1.cri".registry table, which containerd 2.x ignores; remove it');
  }
}

/** The text of a new config.toml when the node has none. */
function freshConfig(version: number): string {
  return `# Written by ${OWNED_MARKER}: the node had no config.toml; containerd defaults apply to everything else.\nversion = ${version}\n`;
}

/** Legacy `mirrors` entries that are set (an empty table is harmless). */
function findLegacyMirrors(mirrors: unknown): LegacyMirror[] {
  if (!isPlainObject(mirrors)) return [];
  return Object.entries(mirrors).map(([upstream, entry]) => {
    const endpoint = isPlainObject(entry) ? entry.endpoint : undefined;
    return { upstream, endpoints: Array.isArray(endpoint) ? endpoint.map(String) : [] };
  });
}

/** Hosts that have a legacy `configs."<host>".tls` table. */
function findLegacyTls(configs: unknown): string[] {
  if (!isPlainObject(configs)) return [];
  return Object.entries(configs)
    .filter(([, c]) => isPlainObject(c) && c.tls !== undefined)
    .map(([host]) => host);
}

function refuseLegacy(mirrors: LegacyMirror[], tls: string[], registry: string[]): never {
  const table = registry.map(tomlKeyPart).join(".");
  const entries = [
    ...mirrors.map((m) => `${table}.mirrors."${m.upstream}" (endpoint = ${JSON.stringify(m.endpoints)})`),
    ...tls.map((h) => `${table}.configs."${h}".tls`),
  ];
  return fail(
    `config.toml uses the deprecated registry format: ${entries.join("; ")}. containerd fails to load its CRI plugin ` +
      "when these are set together with config_path, so config_path is not added. Choose one: " +
      'legacy: "migrate" moves these entries into hosts.toml files and sets config_path; ' +
      'legacy: "write" keeps the deprecated format and writes the mirrors into it instead of hosts.toml',
    "legacy",
  );
}

/** A legacy mirror as a hosts.toml: its TLS settings come from `configs."<endpoint host>".tls`. */
function legacyToHostsFile(legacy: LegacyMirror, configs: unknown): HostsFile {
  const upstreamUrl = legacy.upstream === "*" ? undefined : upstreamServerUrl(legacy.upstream);
  const hosts: HostEntry[] = [];
  for (const raw of legacy.endpoints) {
    let parsed;
    try {
      parsed = parseEndpointUrl(raw);
    } catch {
      return fail(`legacy mirror "${legacy.upstream}" has endpoint ${JSON.stringify(raw)}, which is not a URL; fix it before migrating`);
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
          fail(`legacy configs."${parsed.hostPort}".tls.${key} = "${v}" is relative; make it absolute before migrating`);
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

/**
 * The hosts directory (see {@link HostsDirChoice}). A `:` list always becomes one directory: containerd 2.2's
 * transfer service reads a list as one literal path and ignores every hosts.toml (containerd #12636).
 */
function chooseHostsDir(current: unknown, input: ContainerdConfigInput, warnings: string[]): string {
  const roots = typeof current === "string" ? current.split(":").filter((r) => r !== "") : [];
  const chosen = "fixed" in input.hostsDir ? input.hostsDir.fixed : (roots[0] ?? input.hostsDir.adopt);
  if (roots.length > 1) {
    const others = roots.filter((r) => r !== chosen);
    warnings.push(
      `config_path "${String(current)}" lists several directories; it becomes "${chosen}" because containerd 2.2 ignores every hosts.toml ` +
        `with a list (containerd #12636). Move hosts.toml files from ${others.join(", ")} into ${chosen} if they are still needed`,
    );
  } else if (roots.length === 1 && roots[0] !== chosen) {
    warnings.push(`config_path changes from "${roots[0]}" to "${chosen}"; hosts.toml files under the old directory stop being read`);
  }
  return chosen;
}

/** Sets `config_path` in the registry table, trying the least invasive edit first. */
function setConfigPath(text: string, registry: string[], hostsDir: string): string {
  const doc = segmentToml(text);
  const target = [...registry, "config_path"];
  const existing = doc.segments.find((s) => s.kind === "keyval" && pathEquals(s.path, target));
  if (existing) {
    if (existing.end - existing.start !== 1) {
      return spliceLines(doc, existing.start, existing.end, [`${existing.keyText} = ${JSON.stringify(hostsDir)}`]);
    }
    return spliceLines(doc, existing.start, existing.end, [replaceValueLine(doc.lines[existing.start], hostsDir)]);
  }
  const headerIndex = doc.segments.findIndex((s) => s.kind === "table" && pathEquals(s.path, registry));
  if (headerIndex >= 0) {
    const header = doc.segments[headerIndex];
    return spliceLines(doc, header.end, header.end, [`${sectionIndent(doc, headerIndex)}${tomlKeyValue("config_path", hostsDir)}`]);
  }
  // The registry table may exist only through dotted keys in a parent section (`registry.mirrors = …`);
  // a new [registry] header would then be a TOML error, so add a dotted key to that parent.
  const dotted = doc.segments.find((s) => s.kind === "keyval" && hasPrefix(s.path, registry));
  if (dotted) {
    const parentIndex = lastHeaderBefore(doc, dotted.start);
    const parentPath = parentIndex >= 0 ? doc.segments[parentIndex].path : [];
    const relative = target.slice(parentPath.length).map(tomlKeyPart).join(".");
    const indent = /^\s*/.exec(doc.lines[dotted.start])![0];
    return spliceLines(doc, dotted.end, dotted.end, [`${indent}${tomlKeyValue(relative, hostsDir)}`]);
  }
  return appendTable(text, registry, { config_path: hostsDir });
}

/** Appends a new table (rendered by smol-toml) at the end of the text. */
function appendTable(text: string, path: string[], values: Record<string, unknown>): string {
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
function removeKeys(text: string, paths: string[][]): string {
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

/**
 * Proves an edit: the edited text parses, and its only semantic difference from the live file is what we meant
 * to change. A failure is a bug in the editor, never something to write to a node.
 */
function prove(expected: unknown, edited: string): void {
  let after: unknown;
  try {
    after = parseToml(edited);
  } catch (e) {
    fail(
      `internal error: the edited config.toml does not parse (${(e as Error).message.split("\n")[0]}); nothing was written. Please report this with the file`,
    );
  }
  const diff = firstDifference(pruneEmpty(expected), pruneEmpty(after));
  if (diff !== undefined) {
    fail(`internal error: editing config.toml would also change "${diff}"; nothing was written. Please report this with the file`);
  }
}

interface LegacyWriteInput extends ContainerdConfigInput {
  text: string;
  registry: string[];
  current: unknown;
  isV2Runtime: boolean;
  warnings: string[];
  version: number;
}

/**
 * `legacy: "write"`: our mirrors go into `registry.mirrors` / `registry.configs` of config.toml and
 * `config_path` stays unset. Only what that format can express is accepted.
 */
function planLegacyWrite(input: LegacyWriteInput): ContainerdConfigPlan {
  const { registry, warnings } = input;
  if (typeof input.current === "string" && input.current !== "") {
    fail(
      `config.toml sets config_path = "${input.current}"; the deprecated mirrors format cannot be used together with it. Use legacy: "migrate" or remove config_path`,
      "legacy",
    );
  }
  if (input.runtime.version && versionAtLeast(input.runtime.version, "2.2.0") && !versionAtLeast(input.runtime.version, "2.2.2")) {
    fail(
      `containerd ${input.runtime.version} fails to load the CRI plugin with deprecated mirrors in a version 2 file (containerd #12612, fixed in 2.2.2); upgrade or use hosts.toml`,
      "legacy",
    );
  }
  const problems: { path: string; message: string }[] = [];
  const mirrorsTable: Record<string, unknown> = {};
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
      if (hasTls && input.isV2Runtime)
        problems.push({
          path: ep,
          message: `containerd ${input.runtime.version} removed configs.*.tls; use hosts.toml (legacy: "migrate") for CA, client certificates and skipVerify`,
        });
      const config: Record<string, unknown> = {};
      if (hasTls) {
        const files = input.legacyTlsFiles?.get(parsed.hostPort) ?? {};
        const tls: Record<string, unknown> = {};
        if (files.ca) tls.ca_file = files.ca;
        if (files.cert) tls.cert_file = files.cert;
        if (files.key) tls.key_file = files.key;
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
  for (const [upstream, value] of Object.entries(mirrorsTable)) {
    edited = appendTable(edited, [...registry, "mirrors", upstream], value as Record<string, unknown>);
    setPath(expected, [...registry, "mirrors", upstream], value);
  }
  for (const [host, value] of Object.entries(configsTable)) {
    edited = appendTable(edited, [...registry, "configs", host], value);
    setPath(expected, [...registry, "configs", host], value);
  }
  // Unchanged when the live file already holds exactly these entries.
  const unchanged = firstDifference(pruneEmpty(parsedBefore), pruneEmpty(expected)) === undefined;
  const content = unchanged && input.text === input.live ? undefined : edited;
  if (content !== undefined) prove(expected, content);
  warnings.push('mirrors are written in containerd\'s deprecated registry.mirrors format (legacy: "write"); containerd restarts on every change');
  return { content, hostsDir: undefined, migrated: [], warnings };
}
