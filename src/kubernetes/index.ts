/**
 * Nodes from the cluster: read a cluster's Nodes (name, InternalIP, container runtime, labels) through its API server.
 */
export { listNodes, parseNode, parseNodeList } from "./nodes";
export type { ClusterNode, ListNodesOptions } from "./nodes";
export { resolveKubeconfig } from "./kubeconfig";
export type { ApiServerConnection } from "./kubeconfig";
export { nodesFromCluster, mirrorNodesFromCluster } from "./stack";
export type { NodeFromClusterArgs, NodesFromClusterOptions } from "./stack";
export { RegistryMirrorsFromCluster, clusterMirrorNodes } from "./from-cluster";
export type { RegistryMirrorsFromClusterArgs, ClusterNodesLogin, ClusterNodeSsh, ListedNode } from "./from-cluster";
