/**
 * registry-mirrors: configure container registry mirrors on Kubernetes nodes (containerd, CRI-O, Docker).
 */
export * from "./model/types";
export { validateMirrors } from "./model/validate";
export { parseRuntimeVersion } from "./model/version";
export { renderNodeConfig, resolvePaths, crioDropIn, OWNED_MARKER } from "./render";
export type { NodePlan, PlannedFile, RenderInput, RuntimeAction } from "./render";
export { RegistryMirrors } from "./component/registry-mirrors";
export { RegistryMirrorsArgumentsError } from "./component/errors";
export { HostKeyCheck, NodeRuntime, ProbeOutcome, RuntimeChange, VerifyMode } from "./component/args";
export { ProbeMode } from "./node/checks";
export type { ProbeResult } from "./node/protocol";
export type {
  Connection,
  Inputs,
  MirrorArgs,
  MirrorEndpointArgs,
  MirrorNode,
  MirrorNodeArgs,
  NodeReport,
  NodeVerify,
  NodeVerifyArgs,
  ProbeReport,
  ProofReport,
  ProxyConnection,
  Rollout,
  Verify,
  VerifyArgs,
  RegistryMirrorsArgs,
  SshComponentSettings,
  SshLogin,
  RolloutArgs,
} from "./component/args";
export {
  EXPORT_FORMATS,
  IMPORT_FORMATS,
  exportGardener,
  exportK3s,
  exportTalos,
  gardenerProblems,
  importAnthos,
  importCertsD,
  importContainersRegistries,
  importGardener,
  importK3s,
  importTalos,
} from "./convert";
export type {
  CertsDOptions,
  ConversionNote,
  ExportedFile,
  ExportResult,
  ImportOptions,
  ImportResult,
  K3sExportOptions,
  K3sImportOptions,
} from "./convert";
export {
  listNodes,
  parseNode,
  parseNodeList,
  resolveKubeconfig,
  nodesFromCluster,
  mirrorNodesFromCluster,
  RegistryMirrorsFromCluster,
} from "./kubernetes";
export type {
  ApiServerConnection,
  ClusterNode,
  ClusterNodeSsh,
  ClusterNodesLogin,
  ListNodesOptions,
  ListedNode,
  NodeFromClusterArgs,
  NodesFromClusterOptions,
  RegistryMirrorsFromClusterArgs,
} from "./kubernetes";
export { RegistryMirrorsInCluster, inClusterPlan, DEFAULT_NODE_AGENT_IMAGE } from "./in-cluster";
export type { RegistryMirrorsInClusterArgs, InClusterPlan, InClusterPlanOptions, RolloutResult, NodeRollout } from "./in-cluster";
