/**
 * registry-mirrors: configure container registry mirrors on Kubernetes nodes (containerd, CRI-O, Docker).
 */
export * from "./spec/types";
export { validateMirrors } from "./spec/validate";
export { parseRuntimeVersion } from "./spec/version";
export { renderNodeConfig, resolvePaths, crioDropIn, OWNED_MARKER } from "./render";
export type { NodePlan, PlannedFile, RenderInput, RuntimeAction } from "./render";
export { RegistryMirrors, restartPredecessor } from "./component/registry-mirrors";
export type { MirrorArgs, MirrorEndpointArgs, MirrorNodeArgs, NodeReport, NodeRuntime, RegistryMirrorsArgs, RolloutArgs } from "./component/args";
