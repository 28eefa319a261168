import type { LegacyMode, Mirror, NodePaths, RuntimeInfo } from "../../model/types";
import { runtimeAction } from "../../model/runtimes";
import { versionAtLeast } from "../../model/version";
import { sortFiles } from "../common";
import type { NodePlan, PlannedFile } from "../types";
import { planContainerdConfig, type HostsDirChoice } from "./config";
import { hostsTomlPath, isMigratedHostsToml, mirrorToHostsFile, renderHostsToml, type EndpointTlsFiles, type HostsFile } from "./hosts";

/** Input of {@link renderContainerd}. */
export interface ContainerdRenderInput {
  mirrors: Mirror[];
  runtime: RuntimeInfo;
  liveConfig?: string;
  paths: NodePaths;
  /** Which hosts directory config_path names. */
  hostsDir: HostsDirChoice;
  legacy: LegacyMode;
  ownedFiles?: Record<string, string>;
}

/**
 * containerd: one hosts.toml per upstream (plus certificate files beside it) and, when needed, a config.toml
 * whose CRI registry table points `config_path` at the hosts directory. hosts.toml changes are read on the
 * next pull; only a config.toml change needs a restart.
 */
export function renderContainerd(input: ContainerdRenderInput): NodePlan {
  const warnings: string[] = [];
  if (input.runtime.version && !versionAtLeast(input.runtime.version, "1.6.17") && input.mirrors.some((m) => m.upstream === "*")) {
    warnings.push(`containerd ${input.runtime.version} has no _default hosts directory (added in 1.6.17/1.7.0): the "*" mirror is ignored there`);
  }

  if (input.legacy === "write") return renderLegacyWrite(input, warnings);

  const config = planContainerdConfig({
    live: input.liveConfig,
    runtime: input.runtime,
    hostsDir: input.hostsDir,
    legacy: input.legacy,
    mirrors: input.mirrors,
  });
  const hostsDir = config.hostsDir ?? input.paths.hostsDir;
  const files: PlannedFile[] = [];
  const hostsFiles: HostsFile[] = [...config.migrated];
  input.mirrors.forEach((mirror) => {
    const { file, certs } = mirrorToHostsFile(mirror, hostsDir);
    hostsFiles.push(file);
    files.push(...certs);
  });
  files.push(...carriedMigrations(input, hostsDir, hostsFiles));
  for (const hostsFile of hostsFiles) {
    const content = renderHostsToml(hostsFile);
    // Headers often carry tokens (Authorization from auth, or the user's own): such a file is readable by root
    // only and treated as secret everywhere (state, previews, logs).
    const secret = [hostsFile.server, ...hostsFile.hosts].some((h) => h?.headers !== undefined);
    files.push({ path: hostsTomlPath(hostsDir, hostsFile.dirName), content, mode: secret ? 0o600 : 0o644, ...(secret ? { secret } : {}) });
  }

  const mainConfig = config.content === undefined ? undefined : { path: input.paths.containerdConfig, content: config.content };
  return {
    files: sortFiles(files),
    mainConfig,
    action: runtimeAction("containerd", mainConfig !== undefined),
    warnings: [...warnings, ...config.warnings],
  };
}

/**
 * hosts.toml files migrated from config.toml on an earlier run: config.toml no longer lists those mirrors, so
 * they stay in the plan (unchanged) for as long as no mirror of the spec takes over their upstream.
 */
function carriedMigrations(input: ContainerdRenderInput, hostsDir: string, planned: HostsFile[]): PlannedFile[] {
  const taken = new Set(planned.map((f) => hostsTomlPath(hostsDir, f.dirName)));
  return Object.entries(input.ownedFiles ?? {})
    .filter(([path, content]) => !taken.has(path) && path.startsWith(`${hostsDir}/`) && path.endsWith("/hosts.toml") && isMigratedHostsToml(content))
    .map(([path, content]) => ({ path, content, mode: 0o644 }));
}

/** `legacy: "write"`: mirrors in config.toml's deprecated tables (legacy.ts); certificate files still live on disk. */
function renderLegacyWrite(input: ContainerdRenderInput, warnings: string[]): NodePlan {
  const files: PlannedFile[] = [];
  const tlsFiles = new Map<string, EndpointTlsFiles>();
  // The same certificate files as hosts.toml mode; config.toml's configs."<host>".tls then points at them.
  for (const mirror of input.mirrors) {
    const { certs, tlsFiles: mirrorTlsFiles } = mirrorToHostsFile(mirror, input.paths.hostsDir);
    files.push(...certs);
    for (const [hostPort, tls] of mirrorTlsFiles) tlsFiles.set(hostPort, tls);
  }
  const config = planContainerdConfig({
    live: input.liveConfig,
    runtime: input.runtime,
    hostsDir: { adopt: input.paths.hostsDir },
    legacy: "write",
    mirrors: input.mirrors,
    legacyTlsFiles: tlsFiles,
  });
  const mainConfig = config.content === undefined ? undefined : { path: input.paths.containerdConfig, content: config.content };
  return {
    files: sortFiles(files),
    mainConfig,
    action: runtimeAction("containerd", mainConfig !== undefined),
    warnings: [...warnings, ...config.warnings],
  };
}
