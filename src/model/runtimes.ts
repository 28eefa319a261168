/**
 * Every fact about a container runtime that more than one stage needs, in one table: the renderers take the
 * plan's action from it, the node layer its service, health check and the shell variables of the agent.
 */
import type { NodePaths, RuntimeKind } from "./types";

/** What a runtime needs after its files change. */
export type RuntimeAction = "none" | "reload" | "restart";

export interface RuntimeFacts {
  /**
   * The systemd unit; several names separated by spaces when it depends on the node's role (k3s servers run `k3s`,
   * agents `k3s-agent`): the node agent uses the first one that is active, else the first.
   */
  readonly unit: string;
  /** The binary whose `--version` a read prints; `auto` looks for these in {@link DETECTION_ORDER}. */
  readonly binary: string;
  /** The main config this tool edits (a key of the node's paths), if the runtime has one. */
  readonly mainConfig?: "containerdConfig" | "dockerDaemonJson" | "k3sRegistries" | "rke2Registries";
  /** A shell command that succeeds once the runtime answers. */
  readonly healthCheck: string;
  /** What the runtime needs when its main config changes (containerd reads config.toml only at start). */
  readonly onMainConfig: RuntimeAction;
  /** What it needs when any other file changes (containerd reads hosts.toml on every pull; CRI-O caches registries.conf). */
  readonly onFiles: RuntimeAction;
  /** What it needs when its main config is put back as it was before this tool, if not `onMainConfig`. */
  readonly onMainConfigRestored?: RuntimeAction;
  /**
   * k3s/RKE2: the hosts directory their embedded containerd reads, which they regenerate from registries.yaml at
   * every start (`<data-dir>/agent/etc/containerd/certs.d`, k3s pkg/agent/containerd/config.go).
   */
  readonly generatedHostsDir?: string;
  /** k3s/RKE2: their embedded containerd's socket (also its CRI socket). */
  readonly socket?: string;
  /** The ctr and crictl the node has for this runtime, when not `ctr` and `crictl` on PATH. */
  readonly ctr?: string;
  readonly crictl?: string;
}

/** The socket of the containerd that k3s and RKE2 run (both use k3s's path). */
const K3S_SOCKET = "/run/k3s/containerd/containerd.sock";

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
  // Both read registries.yaml only at start and regenerate their containerd's config.toml and hosts directory from
  // it; certificate files are named by path there and read by containerd on each pull, so they need nothing.
  k3s: {
    unit: "k3s k3s-agent",
    binary: "k3s",
    mainConfig: "k3sRegistries",
    healthCheck: `k3s ctr --address ${K3S_SOCKET} version`,
    onMainConfig: "restart",
    onFiles: "none",
    generatedHostsDir: "/var/lib/rancher/k3s/agent/etc/containerd/certs.d",
    socket: K3S_SOCKET,
  },
  rke2: {
    unit: "rke2-server rke2-agent",
    binary: "rke2",
    mainConfig: "rke2Registries",
    healthCheck: `/var/lib/rancher/rke2/bin/ctr --address ${K3S_SOCKET} version`,
    onMainConfig: "restart",
    onFiles: "none",
    generatedHostsDir: "/var/lib/rancher/rke2/agent/etc/containerd/certs.d",
    socket: K3S_SOCKET,
    ctr: "/var/lib/rancher/rke2/bin/ctr",
    crictl: "/var/lib/rancher/rke2/bin/crictl",
  },
};

/**
 * The order `runtime: auto` looks for runtimes in: k3s and RKE2 first (their nodes may have a containerd binary that
 * is not the one running), CRI-O before containerd (CRI-O nodes often have containerd installed too).
 */
export const DETECTION_ORDER: readonly RuntimeKind[] = ["k3s", "rke2", "cri-o", "containerd", "docker"];

/** Whether `kind` is a distribution that configures its embedded containerd from registries.yaml. */
export function isRancherDistribution(kind: RuntimeKind | undefined): kind is "k3s" | "rke2" {
  return kind === "k3s" || kind === "rke2";
}

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
