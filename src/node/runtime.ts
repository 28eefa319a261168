import type { RuntimeKind } from "../spec/types";

/** How a runtime is driven on a node: its service and how to tell it is healthy. */
export interface RuntimeControl {
  /** systemd unit. */
  unit: string;
  /** A shell command that succeeds once the runtime answers on its socket. */
  healthCheck: string;
}

/** The control of each runtime. */
export function runtimeControl(kind: RuntimeKind): RuntimeControl {
  switch (kind) {
    case "containerd":
      // `ctr version` talks to the daemon over its socket: it fails until containerd serves requests.
      return { unit: "containerd", healthCheck: "ctr --address /run/containerd/containerd.sock version" };
    case "cri-o":
      return { unit: "crio", healthCheck: "systemctl is-active --quiet crio" };
    case "docker":
      return { unit: "docker", healthCheck: "docker version" };
  }
}

/** Where this tool keeps its manifest and backups on a node. */
export const STATE_DIR = "/var/lib/registry-mirrors";
