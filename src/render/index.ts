import { validateMirrors } from "../model/validate";
import { DEFAULT_PATHS, RegistryMirrorsError, type LegacyMode, type Mirror, type NodePaths, type RuntimeKind } from "../model/types";
import { renderContainerd } from "./containerd";
import { renderCrio } from "./crio";
import { renderDocker } from "./docker";
import { renderRancher } from "./k3s";
import type { NodePlan, RenderInput } from "./types";

export type { NodePlan, PlannedFile, RenderInput, RuntimeAction } from "./types";
export { crioDropIn } from "./crio";
export { OWNED_MARKER } from "./common";

/**
 * Renders the complete configuration plan for one node: the files to write, the main config change and what
 * the runtime needs afterwards. Pure and deterministic: the same input gives the same bytes. Throws
 * {@link RegistryMirrorsError} listing every problem with the input or with what the runtime can express.
 */
export function renderNodeConfig(input: RenderInput): NodePlan {
  validateMirrors(input.mirrors);
  return renderValidated(input);
}

/**
 * {@link renderNodeConfig} for mirrors that already passed `validateMirrors`: the same plan and errors, without
 * validating the mirrors again (validation parses every certificate; the component validates once and renders up
 * to twice per node). Paths, runtime and live config are still checked. Given unvalidated mirrors, it may render
 * nonsense or throw something other than a {@link RegistryMirrorsError}.
 *
 * @internal
 */
export function renderValidated(input: RenderInput): NodePlan {
  const paths = resolvePaths(input.paths);
  switch (input.runtime?.kind) {
    case "containerd":
      return renderContainerd({
        mirrors: input.mirrors,
        runtime: input.runtime,
        liveConfig: input.liveConfig,
        paths,
        hostsDir:
          (input.hostsDir ?? (input.paths?.hostsDir !== undefined ? "fixed" : "adopt")) === "fixed"
            ? { fixed: paths.hostsDir }
            : { adopt: paths.hostsDir },
        legacy: input.legacy ?? "refuse",
        ownedFiles: input.ownedFiles,
      });
    case "cri-o":
      return renderCrio(input.mirrors, paths);
    case "docker":
      return renderDocker(input.mirrors, input.runtime, input.liveConfig, paths);
    case "k3s":
    case "rke2":
      return renderRancher(input.mirrors, { ...input.runtime, kind: input.runtime.kind }, input.liveConfig, paths);
    default:
      throw new RegistryMirrorsError([
        {
          path: "runtime.kind",
          message: `unknown runtime ${JSON.stringify(input.runtime?.kind)}; use "containerd", "cri-o", "docker", "k3s" or "rke2"`,
        },
      ]);
  }
}

/**
 * The part of `mirrors` that a runtime's main config (containerd config.toml, Docker daemon.json) depends on, or
 * `undefined` when it depends on none of it. With containerd's hosts.toml (`legacy` refuse or migrate) the main
 * config only points `config_path` at the hosts directory, whatever the mirrors; CRI-O has no main config. Docker's
 * daemon.json, k3s/RKE2's registries.yaml and containerd's `legacy: "write"` hold the mirrors themselves; an unknown
 * runtime may be either.
 * A node must be read again when this changes; any other mirror change is planned from the last read.
 */
export function mirrorsInMainConfig(mirrors: Mirror[], kind: RuntimeKind | undefined, legacy: LegacyMode = "refuse"): Mirror[] | undefined {
  if (kind === "cri-o" || (kind === "containerd" && legacy !== "write")) return undefined;
  return mirrors;
}

/** Default paths with the caller's overrides; every path must be absolute. */
export function resolvePaths(overrides: Partial<NodePaths> | undefined): NodePaths {
  const paths: NodePaths = { ...DEFAULT_PATHS, ...(overrides ?? {}) };
  // No whitespace either: the node agent's manifest separates fields with spaces.
  const problems = Object.entries(paths)
    .filter(([, value]) => typeof value !== "string" || !/^\/[^\s'"\\$`]*$/.test(value) || value.split("/").includes(".."))
    .map(([key, value]) => ({
      path: `paths.${key}`,
      message: `must be an absolute path without "..", whitespace, quotes or control characters (got ${JSON.stringify(value)})`,
    }));
  for (const key of Object.keys(overrides ?? {})) {
    if (!(key in DEFAULT_PATHS)) problems.push({ path: `paths.${key}`, message: `unknown path; known are ${Object.keys(DEFAULT_PATHS).join(", ")}` });
  }
  if (problems.length > 0) throw new RegistryMirrorsError(problems);
  for (const key of Object.keys(paths) as (keyof NodePaths)[]) paths[key] = paths[key].replace(/\/+$/, "") || "/";
  return paths;
}
