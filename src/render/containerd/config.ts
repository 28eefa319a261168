/**
 * containerd's config.toml: find the registry table for the file's schema and point `config_path` at the hosts
 * directory; the deprecated `registry.mirrors` / `registry.configs` tables are handled by legacy.ts. Every edit is
 * made on the text (comments, order and other settings survive) and proven with a smol-toml parse of before and after.
 */
import type { LegacyMode, Mirror, RuntimeInfo } from "../../model/types";
import { versionAtLeast } from "../../model/version";
import { OWNED_MARKER } from "../common";
import { deletePath, getPath, parseToml, setPath, setTableKey } from "../toml-text";
import { failConfig, proveConfigEdit } from "./config-edit";
import type { EndpointTlsFiles, HostsFile } from "./hosts";
import { conflictsWithConfigPath, findLegacyEntries, moveLegacyOut, planLegacyWrite } from "./legacy";

/** containerd config schema versions and where each keeps the CRI registry settings. */
const REGISTRY_TABLE: Record<number, string[]> = {
  1: ["plugins", "cri", "registry"],
  2: ["plugins", "io.containerd.grpc.v1.cri", "registry"],
  3: ["plugins", "io.containerd.cri.v1.images", "registry"],
  // Version 4 moved no registry settings: the same table as 3.
  4: ["plugins", "io.containerd.cri.v1.images", "registry"],
};

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
  /** For `write` mode: the certificate files per endpoint host that `configs."<host>".tls` points at. */
  legacyTlsFiles?: ReadonlyMap<string, EndpointTlsFiles>;
}

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
    return failConfig(`config.toml does not parse as TOML (${(e as Error).message.split("\n")[0]}); fix the file on the node first`);
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
  if (input.legacy === "write") {
    const content = planLegacyWrite(
      {
        live: input.live,
        text,
        registry,
        configPath: current,
        runtime: input.runtime,
        mirrors: input.mirrors,
        tlsFiles: input.legacyTlsFiles ?? new Map(),
      },
      warnings,
    );
    return { content, hostsDir: undefined, migrated: [], warnings };
  }

  let editedText = text;
  let migrated: HostsFile[] = [];
  const expected = structuredClone(parsedBefore);
  const deprecated = findLegacyEntries(parsedBefore, registry);
  if (conflictsWithConfigPath(deprecated, version)) {
    const migration = moveLegacyOut(editedText, deprecated, registry, input.legacy, input.mirrors, warnings);
    editedText = migration.text;
    migrated = migration.migrated;
    for (const path of migration.removed) deletePath(expected, path);
  }

  const hostsDir = chooseHostsDir(current, input, warnings);
  if (current !== hostsDir) {
    editedText = setTableKey(editedText, registry, "config_path", hostsDir);
  }
  setPath(expected, [...registry, "config_path"], hostsDir);
  const content = editedText === input.live ? undefined : editedText;
  if (content !== undefined) proveConfigEdit(expected, content);
  return { content, hostsDir, migrated, warnings };
}

/** The `version` of a parsed config; 1 when absent. */
function schemaVersion(doc: Record<string, unknown>): number {
  const v = doc.version ?? 1;
  if (typeof v !== "number" || !(v in REGISTRY_TABLE)) {
    return failConfig(`config.toml has version = ${JSON.stringify(v)}; supported are 1 (no version line), 2, 3 and 4`);
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
    failConfig(
      `config.toml has version = ${version}, which containerd ${runtime.version} cannot read; it needs containerd 2.x or a version = 2 file`,
    );
  }
  if (version === 1 && v2) {
    failConfig(
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
