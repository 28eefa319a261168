/**
 * `RegistryMirrorsFromCluster`: `RegistryMirrors` on the nodes a cluster lists, in a form every Pulumi language can
 * use (the TypeScript {@link mirrorNodesFromCluster} takes a function of each node, which a package schema cannot
 * carry). The cluster says which nodes exist, their InternalIP and their runtime; `login` says how to log in to
 * every node; `nodes` names each node's SSH host key and what differs from the rest.
 */
import * as pulumi from "@pulumi/pulumi";
import type { Mirror, NodePaths, NodeReport, NodeRuntime, ProxyConnection, SshComponentSettings, SshLogin } from "../component/args";
import { failure, RegistryMirrorsArgumentsError } from "../component/errors";
import { RegistryMirrors } from "../component/registry-mirrors";
import type { Problem } from "../model/types";
import { listNodes, type ClusterNode } from "./nodes";
import { nodesFromCluster } from "./stack";

/** How every node of the cluster is logged in to over SSH (its address is the Node's InternalIP). */
export interface ClusterNodesLogin extends SshLogin {
  /** The bastion host every node is reached through. */
  readonly proxy?: pulumi.Input<ProxyConnection>;
}

/** One node of the cluster, by its Node name: its SSH host key and what differs from the other nodes. */
export interface ClusterNodeSsh {
  /**
   * The node's SSH public key line, e.g. `ssh-ed25519 AAAAC3Nza…` (what `ssh-keyscan -t ed25519 <InternalIP>` prints
   * after the address; compare its fingerprint out of band). Required unless `insecureIgnoreHostKey`.
   */
  readonly hostKey?: pulumi.Input<string>;
  /** The address to log in to. Default: the Node's InternalIP. */
  readonly host?: pulumi.Input<string>;
  /** The SSH port. An integer. Default: `login.port`, else 22. */
  readonly port?: pulumi.Input<number>;
  /** The node's runtime where it says more than the cluster (`k3s`, `rke2` on a containerd node). Default: the cluster's. */
  readonly runtime?: NodeRuntime;
  /** Run commands through `sudo -n`. Default: only when the SSH user is not root. */
  readonly sudo?: boolean;
}

/** A Node the cluster listed, and whether it is configured. */
export interface ListedNode {
  /** The Node's name. */
  readonly name: string;
  /** Its InternalIP, if it reports one. */
  readonly internalIP?: string;
  /** `status.nodeInfo.containerRuntimeVersion`, as reported. */
  readonly containerRuntimeVersion: string;
  /** Whether it is configured (false: left out with `skipUnlisted`). */
  readonly configured: boolean;
}

/** Arguments of {@link RegistryMirrorsFromCluster}. */
export interface RegistryMirrorsFromClusterArgs extends SshComponentSettings {
  /** The mirrors to configure on every node. */
  readonly mirrors: pulumi.Input<pulumi.Input<Mirror>[]>;
  /**
   * Kubeconfig (a path or the text) of the cluster whose Nodes are configured. The list is read when the program
   * runs, previews included; while it is unknown (a cluster being created) no node is configured yet.
   */
  readonly kubeconfig: pulumi.Input<string>;
  /** The kubeconfig's context. Default: its current context. */
  readonly context?: string;
  /** Only the Nodes with these labels, e.g. `node-role.kubernetes.io/worker` or `pool=gpu,zone!=b`. Default: every Node. */
  readonly labelSelector?: string;
  /** How every node is logged in to over SSH (user, private key, port, bastion); the address is its InternalIP. */
  readonly login: pulumi.Input<ClusterNodesLogin>;
  /** Per Node name: its host key and what differs from the rest. */
  readonly nodes: Record<string, pulumi.Input<ClusterNodeSsh>>;
  /** Leave out the Nodes the cluster lists that `nodes` does not name (else each is an error naming it). Default: false. */
  readonly skipUnlisted?: boolean;
  /** Connect without checking the nodes' SSH host keys (see `MirrorNode.insecureIgnoreHostKey`). Default: false. */
  readonly insecureIgnoreHostKey?: boolean;
  /** Overrides of the default file locations on every node. */
  readonly paths?: NodePaths;
}

function checkArgs(args: RegistryMirrorsFromClusterArgs): void {
  const problems: Problem[] = [];
  if (args.mirrors === undefined) problems.push({ path: "mirrors", message: "is required" });
  if (args.kubeconfig === undefined) problems.push({ path: "kubeconfig", message: "is required (the cluster whose Nodes are configured)" });
  if (args.login === undefined) problems.push({ path: "login", message: "is required (how to log in to every node over SSH)" });
  if (args.nodes === undefined || typeof args.nodes !== "object" || Array.isArray(args.nodes))
    problems.push({ path: "nodes", message: "is required: an object keyed by Node name, each with the node's hostKey" });
  if (problems.length > 0) throw new RegistryMirrorsArgumentsError(problems, "invalid RegistryMirrorsFromCluster arguments");
}

/**
 * The Nodes the cluster lists as `RegistryMirrors` nodes: the connection from `login` and the node's entry.
 *
 * @throws `RegistryMirrorsError` naming every listed Node without an entry (unless `skipUnlisted`) or without an
 *   address, and every node whose given runtime contradicts the cluster.
 */
export function clusterMirrorNodes(
  listed: readonly ClusterNode[],
  args: Omit<RegistryMirrorsFromClusterArgs, "nodes"> & { readonly nodes: Readonly<Record<string, ClusterNodeSsh>> },
): ReturnType<typeof nodesFromCluster> {
  const problems: Problem[] = [];
  const insecure = args.insecureIgnoreHostKey === true;
  for (const n of listed) {
    const entry = args.nodes[n.name];
    if (entry === undefined && !args.skipUnlisted) {
      problems.push({
        path: `nodes[${n.name}]`,
        message: `the cluster lists this Node but nodes has no entry for it: add it with its hostKey (ssh-keyscan -t ed25519 ${n.internalIP ?? "<its address>"}), or set skipUnlisted`,
      });
    } else if (entry !== undefined && entry.host === undefined && n.internalIP === undefined) {
      problems.push({ path: `nodes[${n.name}].host`, message: "is required: the Node reports no InternalIP" });
    } else if (entry !== undefined && entry.hostKey === undefined && !insecure) {
      problems.push({
        path: `nodes[${n.name}].hostKey`,
        message: `is required: the node's SSH public key line (ssh-keyscan -t ed25519 ${n.internalIP ?? "<its address>"}), or set insecureIgnoreHostKey`,
      });
    }
  }
  if (problems.length > 0) throw new RegistryMirrorsArgumentsError(problems, "nodes from the cluster do not fit");
  return nodesFromCluster(listed, {
    node: (n) => {
      const entry = args.nodes[n.name];
      if (entry === undefined) return undefined;
      const connection = pulumi.output(args.login).apply((login) => ({
        ...login,
        host: entry.host ?? n.internalIP!,
        ...(entry.port !== undefined ? { port: entry.port } : {}),
        ...(entry.hostKey !== undefined ? { hostKey: entry.hostKey } : {}),
      }));
      return {
        connection,
        ...(entry.runtime !== undefined ? { runtime: entry.runtime } : {}),
        ...(entry.sudo !== undefined ? { sudo: entry.sudo } : {}),
        ...(insecure ? { insecureIgnoreHostKey: true } : {}),
        ...(args.paths !== undefined ? { paths: args.paths } : {}),
      };
    },
  });
}

/**
 * Configures registry mirrors over SSH on the nodes a cluster lists (all, or those matching `labelSelector`): a
 * `RegistryMirrors` whose nodes are the cluster's, each with its InternalIP and the runtime the cluster reports.
 */
export class RegistryMirrorsFromCluster extends pulumi.ComponentResource {
  /** Per node: what was seen, written, restarted and verified (as `RegistryMirrors.reports`). */
  public readonly reports: pulumi.Output<Record<string, NodeReport>>;
  /** The Nodes the cluster listed, and whether each is configured. */
  public readonly clusterNodes: pulumi.Output<ListedNode[]>;

  constructor(name: string, args: RegistryMirrorsFromClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    checkArgs(args);
    super("registry-mirrors:index:RegistryMirrorsFromCluster", name, {}, opts);
    const listed = pulumi
      .output(args.kubeconfig)
      .apply((kubeconfig) => listNodes({ kubeconfig, context: args.context, labelSelector: args.labelSelector }))
      .apply((nodes) => {
        for (const key of Object.keys(args.nodes)) {
          if (!nodes.some((n) => n.name === key))
            pulumi.log.warn(
              `registry-mirrors: nodes[${key}]: the cluster lists no such Node${args.labelSelector ? ` (labelSelector ${args.labelSelector})` : ""}; ignored`,
              this,
            );
        }
        return nodes;
      });
    this.clusterNodes = pulumi.unsecret(listed).apply((nodes) =>
      nodes.map((n) => ({
        name: n.name,
        ...(n.internalIP ? { internalIP: n.internalIP } : {}),
        containerRuntimeVersion: n.containerRuntimeVersion,
        configured: args.nodes[n.name] !== undefined,
      })),
    );
    // The child exists once the list and the entries are known: its nodes decide which resources exist.
    const entries = pulumi.output(args.nodes as pulumi.Input<Record<string, ClusterNodeSsh>>);
    this.reports = pulumi.unsecret(pulumi.all([listed, entries])).apply(([nodes, resolved]) => {
      let mirrorNodes;
      try {
        mirrorNodes = clusterMirrorNodes(nodes, { ...args, nodes: resolved });
      } catch (e) {
        throw failure("registry-mirrors: nodes from the cluster", e, this);
      }
      const mirrors = new RegistryMirrors(
        name,
        {
          mirrors: args.mirrors,
          nodes: mirrorNodes,
          rollout: args.rollout,
          verify: args.verify,
          probe: args.probe,
          legacy: args.legacy,
          healthTimeoutSeconds: args.healthTimeoutSeconds,
          takeOver: args.takeOver,
        },
        { parent: this },
      );
      return mirrors.reports;
    });
    this.registerOutputs({ reports: this.reports, clusterNodes: this.clusterNodes });
  }
}
