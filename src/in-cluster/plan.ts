/**
 * What the in-cluster DaemonSet's pods run, rendered from the spec alone: the node agent's apply (command and stdin)
 * and its remove, for containerd nodes whose config.toml already reads the hosts directory. The same renderer, agent
 * and ownership rules as over SSH; only the transport differs (a Secret and a chroot instead of an SSH session).
 */
import type { NodePaths } from "../component/args";
import type { Mirror } from "../model/types";
import { renderValidated, resolvePaths } from "../render";
import type { PlannedFile } from "../render/types";
import { probeTargets, type ProbeMode } from "../node/checks";
import { applyScript, applyStdin, removeCommand, type InstanceOwner } from "../node/protocol";
import { sha256 } from "../node/shell";

/** The environment variable the pod sets to its node's name (downward API `spec.nodeName`). */
export const NODE_NAME_VARIABLE = "NODE_NAME";

/** How the agent finds things on the nodes; the component's arguments of the same names. */
export interface InClusterNodeSettings {
  /** File locations on the nodes (`hostsDir` is the one the mode writes). Default: containerd's (`/etc/containerd/certs.d`). */
  readonly paths?: NodePaths;
  /** Where the agent keeps its manifest and backups on each node. Default: `/var/lib/registry-mirrors`. */
  readonly stateDir?: string;
  /** containerd's CRI socket on the nodes. Default: `/run/containerd/containerd.sock`. */
  readonly criSocket?: string;
  /** crictl on the nodes, for the check that containerd reads the hosts directory. Default: `crictl` (on the PATH). */
  readonly crictl?: string;
  /** Probe every endpoint from each node before writing (`error`, `warn`, `off`). Default: `error`. */
  readonly probe?: ProbeMode;
  /** Ask each node's containerd whether it reads the hosts directory; a node where it does not fails. Default: true. */
  readonly effectiveConfig?: boolean;
}

/** Options of {@link inClusterPlan}. */
export interface InClusterPlanOptions extends InClusterNodeSettings {
  /** Whose files these are on the nodes. */
  readonly owner: InstanceOwner;
  /** Seconds a run waits for another registry-mirrors run on the node (an SSH apply, say). */
  readonly lockTimeoutSeconds?: number;
}

/** The Secret's content and what it is made of. */
export interface InClusterPlan {
  /** The ConfigMap's content: `apply.sh`, `remove.sh`, readable (file contents as heredocs), shown by previews. */
  readonly scripts: Readonly<Record<"apply.sh" | "remove.sh", string>>;
  /** The Secret's content: `apply.stdin` (credentials, secret files, the probes' configs). */
  readonly secret: Readonly<Record<"apply.stdin", string>>;
  /**
   * sha256 over the scripts only: nothing derived from a credential may leave the Secret (the DaemonSet and the
   * state are readable more widely, and a hash of a known text around a password is a dictionary attack's target).
   * The component joins it with the Secret's version to tell the pods of a configuration apart.
   */
  readonly scriptsHash: string;
  /** The files each node gets (contents of secret files included: callers keep those out of previews). */
  readonly files: readonly PlannedFile[];
  /** What a person should know (from the renderer). */
  readonly warnings: readonly string[];
}

/** The name the agent uses for a node when its pod does not say (never in practice: the pod always does). */
const FALLBACK_NODE = "in-cluster-node";

/**
 * Renders the in-cluster plan. Only containerd's hosts.toml files are written: config.toml must already point
 * `config_path` at `paths.hostsDir` (the effective check fails a node where containerd does not read it), and the
 * runtime is never restarted.
 *
 * @throws `RegistryMirrorsError` for what the renderer refuses.
 */
export function inClusterPlan(mirrors: Mirror[], options: InClusterPlanOptions): InClusterPlan {
  const paths = resolvePaths(options.paths);
  // config.toml not read (`liveConfig` undefined): the renderer leaves it alone and says what it must hold.
  const plan = renderValidated({ mirrors, runtime: { kind: "containerd" }, paths, hostsDir: "fixed", legacy: "refuse" });
  const target = {
    node: FALLBACK_NODE,
    nodeNameVariable: NODE_NAME_VARIABLE,
    sudo: false,
    owner: options.owner,
    stateDir: options.stateDir,
    lockTimeoutSeconds: options.lockTimeoutSeconds,
    control: { criSocket: options.criSocket, crictl: options.crictl },
    reread: "delete the node's registry-mirrors pod",
  };
  const criSocket = options.criSocket ?? "/run/containerd/containerd.sock";
  const checks = {
    probes: probeTargets(mirrors, "containerd", options.probe ?? "error"),
    // As over SSH (node/checks.ts effectiveCheck), with the nodes' own socket.
    effective: options.effectiveConfig === false ? undefined : `containerd ${paths.hostsDir} ${criSocket}`,
  };
  const applySh = applyScript({ ...target, runtime: "containerd", paths, checks }, plan.files);
  const stdin = applyStdin(plan, undefined, plan.files, checks);
  const removeSh = removeCommand(target, "containerd");
  const scripts = { "apply.sh": applySh, "remove.sh": removeSh };
  const secret = { "apply.stdin": stdin };
  const scriptsHash = sha256(JSON.stringify(scripts));
  // The renderer's warning speaks of a node read over SSH; this mode never reads config.toml.
  const warnings = plan.warnings.map((w) =>
    w.startsWith("config.toml was not read")
      ? `the in-cluster mode leaves config.toml as it is: make sure its CRI registry table sets config_path = "${paths.hostsDir}" on every node (a node where containerd does not read it fails its rollout)`
      : w,
  );
  return { scripts, secret, scriptsHash, files: plan.files, warnings };
}
