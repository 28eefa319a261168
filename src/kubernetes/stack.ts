/**
 * `RegistryMirrors` nodes built from a cluster's Nodes: the cluster says which nodes exist and what runtime each
 * runs; the stack says how to reach each over SSH.
 */
import type { MirrorNodeArgs, NodeRuntime } from "../component/args";
import { Problem, RegistryMirrorsError, RuntimeKind } from "../model/types";
import { ClusterNode, listNodes, ListNodesOptions } from "./nodes";

/** What the stack adds to a discovered node. */
export interface NodeFromClusterArgs extends Partial<Omit<MirrorNodeArgs, "name" | "connection">> {
  /** How to reach the node over SSH (see {@link MirrorNodeArgs.connection}). */
  readonly connection: MirrorNodeArgs["connection"];
}

export interface NodesFromClusterOptions {
  /**
   * Per node: its SSH connection and any other {@link MirrorNodeArgs} field. A `runtime` given here must agree with
   * what the cluster reports (`k3s` and `rke2` agree with `containerd`, which they embed); `auto` is replaced by the
   * cluster's runtime. Return `undefined` to leave the node out.
   */
  readonly node: (node: ClusterNode) => NodeFromClusterArgs | undefined;
}

/** The runtime kinds a given runtime may be reported as by `containerRuntimeVersion`. */
const REPORTED_AS: Readonly<Record<RuntimeKind, RuntimeKind>> = {
  containerd: "containerd",
  "cri-o": "cri-o",
  docker: "docker",
  k3s: "containerd",
  rke2: "containerd",
};

/**
 * Turn discovered nodes into `RegistryMirrors` nodes: the name is the Node's name, the runtime is the one the cluster
 * reports (unless the stack names a compatible one, e.g. `k3s`), everything else comes from `options.node`.
 *
 * @throws {@link RegistryMirrorsError} listing every node whose given runtime contradicts the cluster (naming both),
 *   or that `options.node` returned without a connection.
 */
export function nodesFromCluster(nodes: readonly ClusterNode[], options: NodesFromClusterOptions): MirrorNodeArgs[] {
  const out: MirrorNodeArgs[] = [];
  const problems: Problem[] = [];
  for (const n of nodes) {
    const extra = options.node(n);
    if (extra === undefined) continue;
    const where = `nodes[${n.name}]`;
    if (!extra || !extra.connection) {
      problems.push({ path: `${where}.connection`, message: "is missing: the node function must return the node's SSH connection" });
      continue;
    }
    const given: NodeRuntime | undefined = extra.runtime;
    let runtime: NodeRuntime = n.runtime.kind;
    if (given !== undefined && given !== "auto") {
      if (REPORTED_AS[given] === undefined) {
        problems.push({
          path: `${where}.runtime`,
          message: `${JSON.stringify(given)} is not a runtime (${Object.keys(REPORTED_AS).join(", ")}, auto)`,
        });
        continue;
      }
      if (REPORTED_AS[given] !== n.runtime.kind) {
        problems.push({
          path: `${where}.runtime`,
          message: `${JSON.stringify(given)} was given, but the cluster reports ${n.runtime.kind} (status.nodeInfo.containerRuntimeVersion = ${JSON.stringify(n.containerRuntimeVersion)})`,
        });
        continue;
      }
      runtime = given;
    }
    out.push({ ...extra, name: n.name, runtime });
  }
  if (problems.length > 0) throw new RegistryMirrorsError(problems, "nodes from the cluster do not fit");
  return out;
}

/** {@link listNodes} then {@link nodesFromCluster}: for a stack's `nodes: await mirrorNodesFromCluster(...)`. */
export async function mirrorNodesFromCluster(list: ListNodesOptions, options: NodesFromClusterOptions): Promise<MirrorNodeArgs[]> {
  return nodesFromCluster(await listNodes(list), options);
}
