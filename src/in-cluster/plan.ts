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
import {
  applyScript,
  applyStdin,
  ownEntries,
  parseReadOutput,
  readCommand,
  removeCommand,
  type ApplyChecks,
  type InstanceOwner,
  type NodeTarget,
} from "../node/protocol";
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
  /**
   * Let the agent edit each node's containerd config.toml (`paths.containerdConfig`) where it does not read the hosts
   * directory: `config_path` set in the table of the node's config version, legacy mirror tables refused. Each
   * node's config.toml is read first (a short-lived DaemonSet), and containerd is restarted on a node only when its
   * file changed, one node at a time (`maxUnavailable`), health-gated and rolled back on failure. Default: false
   * (hosts files only, nothing restarted).
   */
  readonly allowConfigEdits?: boolean;
  /** What restarts containerd on the nodes (`systemctl restart containerd`), with `allowConfigEdits`. Default: `systemctl`. */
  readonly systemctl?: string;
}

/** Options of {@link inClusterPlan}. */
export interface InClusterPlanOptions extends InClusterNodeSettings {
  /** Whose files these are on the nodes. */
  readonly owner: InstanceOwner;
  /** Seconds a run waits for another registry-mirrors run on the node (an SSH apply, say). */
  readonly lockTimeoutSeconds?: number;
  /** With `allowConfigEdits`: how to make the nodes be read again, named when a config.toml changed since its read. */
  readonly reread?: string;
}

/** The Secret's content and what it is made of. */
export interface InClusterPlan {
  /**
   * The ConfigMap's content: `apply.sh`, `remove.sh` and, with `allowConfigEdits`, `read.sh`; readable (file contents
   * as heredocs), shown by previews.
   */
  readonly scripts: Readonly<Record<string, string>>;
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
 * Renders the in-cluster plan. Without `allowConfigEdits` only containerd's hosts.toml files are written:
 * config.toml must already point `config_path` at `paths.hostsDir` (the effective check fails a node where
 * containerd does not read it), and the runtime is never restarted. With it, `read.sh` reads each node and
 * {@link inClusterNodePlanner} gives each node its own stdin for the same `apply.sh`.
 *
 * @throws `RegistryMirrorsError` for what the renderer refuses.
 */
export function inClusterPlan(mirrors: Mirror[], options: InClusterPlanOptions): InClusterPlan {
  const { paths, target, checks } = nodeSide(mirrors, options);
  // config.toml not read (`liveConfig` undefined): the renderer leaves it alone and says what it must hold.
  const plan = renderValidated({ mirrors, runtime: { kind: "containerd" }, paths, hostsDir: "fixed", legacy: "refuse" });
  const applySh = applyScript({ ...target, runtime: "containerd", paths, checks }, plan.files);
  const stdin = applyStdin(plan, undefined, plan.files, checks);
  const removeSh = removeCommand(target, "containerd");
  const scripts: Record<string, string> = { "apply.sh": applySh, "remove.sh": removeSh };
  if (options.allowConfigEdits) scripts["read.sh"] = readCommand(target, paths, "containerd");
  const secret = { "apply.stdin": stdin };
  const scriptsHash = sha256(JSON.stringify(scripts));
  // The renderer's warning speaks of a node read over SSH; without config edits this mode never reads config.toml.
  const warnings = options.allowConfigEdits
    ? plan.warnings.filter((w) => !w.startsWith("config.toml was not read"))
    : plan.warnings.map((w) =>
        w.startsWith("config.toml was not read")
          ? `the in-cluster mode leaves config.toml as it is: make sure its CRI registry table sets config_path = "${paths.hostsDir}" on every node (a node where containerd does not read it fails its rollout), or set allowConfigEdits`
          : w,
      );
  return { scripts, secret, scriptsHash, files: plan.files, warnings };
}

/** One node's apply input after its read (`allowConfigEdits`), and what it changes there. */
export interface InClusterNodeStdin {
  /** The node's apply.stdin: the plan with its edited config.toml (if any) and the config.toml it was computed from. */
  readonly stdin: string;
  /** Whether the node's config.toml changes (containerd restarts there). */
  readonly configEdited: boolean;
  /** The node's containerd version as read. */
  readonly runtimeVersion?: string;
  readonly warnings: readonly string[];
}

/**
 * What turns a node's read (`read.sh`'s output) into its apply stdin for the shared `apply.sh`: the same renderer
 * with the node's config.toml and containerd version, the same compare-and-swap on config.toml as over SSH. What
 * every node shares (paths, checks, the files rendered from the spec) is computed once.
 *
 * The returned function throws `RegistryMirrorsError` for what the renderer refuses on a node (legacy mirror tables,
 * an invalid file).
 */
export function inClusterNodePlanner(mirrors: Mirror[], options: InClusterPlanOptions): (readOutput: string) => InClusterNodeStdin {
  const { paths, checks } = nodeSide(mirrors, options);
  const specFiles = renderValidated({ mirrors, runtime: { kind: "containerd" }, paths, hostsDir: "fixed", legacy: "refuse" }).files;
  return (readOutput) => {
    const state = parseReadOutput(readOutput);
    const plan = renderValidated({
      mirrors,
      runtime: { kind: "containerd", version: state.runtime.kind === "containerd" ? state.runtime.version : undefined },
      liveConfig: state.mainConfig?.content ?? "",
      paths,
      hostsDir: "fixed",
      legacy: "refuse",
      ownedFiles: ownEntries(state, options.owner).ownedFiles,
    });
    return {
      stdin: applyStdin(plan, state.mainConfig ?? { path: paths.containerdConfig, sha256: "absent" }, specFiles, checks),
      configEdited: plan.mainConfig !== undefined,
      runtimeVersion: state.runtime.version,
      warnings: plan.warnings,
    };
  };
}

/** What the node-side scripts share: the paths, the target (the node named by the pod) and the checks. */
function nodeSide(
  mirrors: Mirror[],
  options: InClusterPlanOptions,
): { paths: ReturnType<typeof resolvePaths>; target: NodeTarget; checks: ApplyChecks } {
  const paths = resolvePaths(options.paths);
  const criSocket = options.criSocket ?? "/run/containerd/containerd.sock";
  const target: NodeTarget = {
    node: FALLBACK_NODE,
    nodeNameVariable: NODE_NAME_VARIABLE,
    sudo: false,
    owner: options.owner,
    stateDir: options.stateDir,
    lockTimeoutSeconds: options.lockTimeoutSeconds,
    // The health check after a restart asks the nodes' own socket.
    control: { criSocket, crictl: options.crictl, systemctl: options.systemctl, healthCheck: `ctr --address ${criSocket} version` },
    reread: options.allowConfigEdits && options.reread ? options.reread : "delete the node's registry-mirrors pod",
  };
  const checks = {
    probes: probeTargets(mirrors, "containerd", options.probe ?? "error"),
    // As over SSH (node/checks.ts effectiveCheck), with the nodes' own socket.
    effective: options.effectiveConfig === false ? undefined : `containerd ${paths.hostsDir} ${criSocket}`,
  };
  return { paths, target, checks };
}
