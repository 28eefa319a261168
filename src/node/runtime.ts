import type { NodePaths, RuntimeKind } from "../spec/types";

/** How a runtime is driven on a node: its service, its main config and how to tell it is healthy. */
export interface RuntimeControl {
  /** systemd unit. */
  unit: string;
  /** Main config file this tool may edit, if the runtime has one we edit. */
  mainConfig?: string;
  /** A shell command that succeeds once the runtime answers on its socket. */
  healthCheck: string;
}

/** The control of each runtime, given the node's paths. */
export function runtimeControl(kind: RuntimeKind, paths: NodePaths): RuntimeControl {
  switch (kind) {
    case "containerd":
      // `ctr version` talks to the daemon over its socket: it fails until containerd serves requests.
      return { unit: "containerd", mainConfig: paths.containerdConfig, healthCheck: "ctr --address /run/containerd/containerd.sock version" };
    case "cri-o":
      return { unit: "crio", healthCheck: "systemctl is-active --quiet crio" };
    case "docker":
      return { unit: "docker", mainConfig: paths.dockerDaemonJson, healthCheck: "docker version" };
  }
}

/** Where this tool keeps its manifest and backups on a node. */
export const STATE_DIR = "/var/lib/registry-mirrors";
