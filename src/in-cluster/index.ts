/** The in-cluster mode: registry mirrors on nodes without SSH, through a DaemonSet (see component.ts). */
export { RegistryMirrorsInCluster } from "./component";
export type { RegistryMirrorsInClusterArgs } from "./component";
export { inClusterPlan, NODE_NAME_VARIABLE } from "./plan";
export type { InClusterPlan, InClusterPlanOptions, InClusterNodeSettings } from "./plan";
export { daemonSetManifest, DEFAULT_NODE_AGENT_IMAGE, DEFAULT_RESOURCES, CONFIG_HASH_ANNOTATION, MODE_ANNOTATION } from "./manifests";
export type { PodResources } from "./manifests";
export { waitForRollout, removeThroughRollout, RolloutMode } from "./rollout";
export type { RolloutRequest, RolloutResult, NodeRollout } from "./rollout";
