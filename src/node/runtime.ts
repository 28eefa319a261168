import { RUNTIME_FACTS } from "../model/runtimes";
import type { RuntimeKind } from "../model/types";

/** How a runtime is driven on a node: its service and how to tell it is healthy. */
export interface RuntimeControl {
  /** systemd unit. */
  unit: string;
  /** A shell command that succeeds once the runtime answers on its socket. */
  healthCheck: string;
  /** The runtime's CRI socket, where it is not the runtime's usual one. Default: from the runtime facts. */
  criSocket?: string;
  /** crictl, where it is not on the PATH. Default: from the runtime facts (`crictl`). */
  crictl?: string;
  /** What restarts, reloads and asks the service (`systemctl` verbs). Default: `systemctl` on the PATH. */
  systemctl?: string;
}

/** The control of each runtime, from the table of runtime facts. */
export function runtimeControl(kind: RuntimeKind): RuntimeControl {
  const { unit, healthCheck } = RUNTIME_FACTS[kind];
  return { unit, healthCheck };
}

/** Where this tool keeps its manifest and backups on a node. */
export const STATE_DIR = "/var/lib/registry-mirrors";
