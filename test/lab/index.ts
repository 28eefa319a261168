/**
 * Real-node test lab for registry-mirrors: start with {@link startLab}, stop with `lab.stop()`.
 * See test/lab/README.md for what each node and registry is.
 */
export { startLab, attachLab, Lab, toolsBin, LAB_USER, RESTART_VERBS, DESCRIPTION_FILE } from "./lab";
export type { NodeRef, ExecOptions } from "./lab";
export { stopLabDirSync, labProcesses, mountsUnder } from "./proc";
export type { StopReport } from "./proc";
export { DEFAULT_MIX, UPSTREAM_NAMES, AUTH_MIRROR_NAME, containerdConfig } from "./node";
export { NS_PREFIX } from "./registries";
export * from "./types";
export { startCluster, stopClusterDirSync, CLUSTER_PORTS, CLUSTER_NODE_NAME, PAUSE_IMAGE } from "./cluster";
export type { Cluster, ClusterOptions, ClusterDescription, ClusterStopReport } from "./cluster";
