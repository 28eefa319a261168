/**
 * Every fact about a container runtime that more than one stage needs, in one table: the renderers take the
 * plan's action from it, the node layer its service, health check and the shell variables of the agent.
 */
import type { NodePaths, RuntimeKind } from "./types";

/** What a runtime needs after its files change. */
export type RuntimeAction = "none" | "reload" | "restart";

export interface RuntimeFacts {
  /** The systemd unit. */
  readonly unit: string;
  /** The binary whose `--version` a read prints; `auto` looks for these in {@link DETECTION_ORDER}. */
  readonly binary: string;
  /** The main config this tool edits (a key of the node's paths), if the runtime has one. */
  readonly mainConfig?: "containerdConfig" | "dockerDaemonJson";
  /** A shell command that succeeds once the runtime answers. */
  readonly healthCheck: string;
  /** What the runtime needs when its main config changes (containerd reads config.toml only at start). */
  readonly onMainConfig: RuntimeAction;
  /** What it needs when any other file changes (containerd reads hosts.toml on every pull; CRI-O caches registries.conf). */
  readonly onFiles: RuntimeAction;
  /** What it needs when its main config is put back as it was before this tool, if not `onMainConfig`. */
  readonly onMainConfigRestored?: RuntimeAction;
}

export const RUNTIME_FACTS: Readonly<Record<RuntimeKind, RuntimeFacts>> = {
  containerd: {
    unit: "containerd",
    binary: "containerd",
    mainConfig: "containerdConfig",
    // `ctr version` talks to the daemon over its socket: it fails until containerd serves requests.
    healthCheck: "ctr --address /run/containerd/containerd.sock version",
    onMainConfig: "restart",
    onFiles: "none",
  },
  "cri-o": { unit: "crio", binary: "crio", healthCheck: "systemctl is-active --quiet crio", onMainConfig: "reload", onFiles: "reload" },
  // registry-mirrors and insecure-registries are on dockerd's SIGHUP reload list.
  docker: {
    unit: "docker",
    binary: "dockerd",
    mainConfig: "dockerDaemonJson",
    healthCheck: "docker version",
    onMainConfig: "reload",
    onFiles: "none",
    // A reload applies only the keys daemon.json sets: with `registry-mirrors` gone from the restored file, dockerd
    // keeps using the mirrors until it restarts (seen on dockerd 20.10 in the lab).
    onMainConfigRestored: "restart",
  },
};

/** The order `runtime: auto` looks for runtimes in: CRI-O nodes often have containerd installed too. */
export const DETECTION_ORDER: readonly RuntimeKind[] = ["cri-o", "containerd", "docker"];

/** What a plan for `kind` needs, given whether it changes the main config. */
export function runtimeAction(kind: RuntimeKind, mainConfigChanges: boolean): RuntimeAction {
  const facts = RUNTIME_FACTS[kind];
  return mainConfigChanges ? facts.onMainConfig : facts.onFiles;
}

/** The main config path of `kind` on a node, if it has one. */
export function mainConfigPath(kind: RuntimeKind, paths: NodePaths): string | undefined {
  const key = RUNTIME_FACTS[kind].mainConfig;
  return key ? paths[key] : undefined;
}
