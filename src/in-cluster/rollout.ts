/**
 * The in-cluster mode's rollout, watched from where Pulumi runs: wait until every node's pod of the current pod
 * template is Ready (the agent finished there), or fail with the first failing node and the agent's reason; and the
 * removal, a rollout of its own that returns every node to its previous files before the DaemonSet is deleted.
 */
import { resolveKubeconfig, type ApiServerConnection } from "../kubernetes/kubeconfig";
import { apiGetJson, apiRequestJson, apiRequestText, ApiStatusError } from "../kubernetes/nodes";
import { APP_LABEL, CONFIG_HASH_ANNOTATION, MODE_ANNOTATION, MODE_VARIABLE } from "./manifests";

/** What the rollout wait reads on stdin (JSON): the kubeconfig holds credentials. */
export interface RolloutRequest {
  /** Kubeconfig text or path. */
  readonly kubeconfig: string;
  readonly context?: string;
  readonly namespace: string;
  /** The DaemonSet's name (also its pods' label value). */
  readonly name: string;
  /** The pod template's config hash to wait for. */
  readonly configHash: string;
  /** Seconds to wait for every node. */
  readonly timeoutSeconds: number;
}

/** What a rollout's pods run. */
export const RolloutMode = { Apply: "apply", Remove: "remove" } as const;
/** What a rollout's pods run: `apply` or `remove`. */
export type RolloutMode = (typeof RolloutMode)[keyof typeof RolloutMode];

/** One node's outcome. */
export interface NodeRollout {
  /** The Node's name. */
  readonly node: string;
  /** The DaemonSet's pod on it. */
  readonly pod: string;
  /** Whether the pod became Ready: the agent wrote the node's files, read them back and its checks passed. */
  readonly ready: boolean;
  /** The agent's one-line results (RM-WROTE, RM-EFFECTIVE, …) when the pod's log could be read. */
  readonly log?: string[];
}

/** The outcome of a rollout: every node's pod Ready. */
export interface RolloutResult {
  /** What the pods ran: `apply` (this configuration) or `remove` (the nodes rolled back, on delete). */
  readonly mode: RolloutMode;
  /** Every node's pod and outcome. */
  readonly nodes: NodeRollout[];
}

/** The fields of a pod the rollout and the read step look at. */
export interface Pod {
  metadata: { name: string; annotations?: Record<string, string>; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status: {
    phase?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: {
      restartCount?: number;
      state?: { waiting?: { reason?: string; message?: string }; terminated?: { exitCode?: number; message?: string; reason?: string } };
      lastState?: { terminated?: { exitCode?: number; message?: string; reason?: string } };
    }[];
  };
}

interface DaemonSet {
  metadata: { generation?: number };
  spec: { template: { metadata?: { annotations?: Record<string, string> }; spec: { containers: { env?: { name: string; value?: string }[] }[] } } };
  status?: { observedGeneration?: number; desiredNumberScheduled?: number; updatedNumberScheduled?: number; numberReady?: number };
}

export const sleep = (ms: number): Promise<unknown> => new Promise((r) => setTimeout(r, ms));

/** A node's failure: why its agent failed, as the pod's container reported it. */
export function podFailure(pod: Pod): string | undefined {
  for (const c of pod.status.containerStatuses ?? []) {
    const terminated = [c.state?.terminated, c.lastState?.terminated].find((t) => t !== undefined && t.exitCode !== 0);
    if (terminated)
      return (terminated.message ?? "").trim() || `the node agent exited with ${terminated.exitCode} (${terminated.reason ?? "no message"})`;
    const waiting = c.state?.waiting;
    if (waiting && /ErrImagePull|ImagePullBackOff|InvalidImageName|CreateContainerConfigError|CreateContainerError/.test(waiting.reason ?? "")) {
      return `the pod cannot start: ${waiting.reason}: ${waiting.message ?? ""}`.trim();
    }
  }
  return undefined;
}

/** Whether the pod is Ready: its agent finished on the node. */
export const isReady = (pod: Pod): boolean => (pod.status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");

async function podLog(conn: ApiServerConnection, namespace: string, pod: string): Promise<string[] | undefined> {
  try {
    const text = await apiRequestText(conn, "GET", `/api/v1/namespaces/${namespace}/pods/${pod}/log?container=node-agent&tailLines=200`);
    return text.split("\n").filter((l) => l.startsWith("RM-"));
  } catch {
    // The log goes through the node's kubelet; a rollout that is Ready does not depend on it.
    return undefined;
  }
}

/**
 * Waits until the DaemonSet observed its current template and every scheduled node's pod with `configHash` and
 * `mode` is Ready. Throws naming the first node whose agent failed (`registry-mirrors: node N: step S: …`), or, at the
 * timeout, every node not yet Ready.
 */
export async function waitForRollout(req: RolloutRequest, mode: RolloutMode = "apply"): Promise<RolloutResult> {
  const conn = resolveKubeconfig(req.kubeconfig, { context: req.context });
  const base = `/apis/apps/v1/namespaces/${req.namespace}/daemonsets/${req.name}`;
  const deadline = Date.now() + req.timeoutSeconds * 1000;
  let pending: string[] = [];
  for (;;) {
    const ds = (await apiGetJson(conn, base)) as DaemonSet;
    const list = (await apiGetJson(
      conn,
      `/api/v1/namespaces/${req.namespace}/pods?labelSelector=${encodeURIComponent(`${APP_LABEL}=${req.name}`)}`,
    )) as {
      items: Pod[];
    };
    const current = list.items.filter(
      (p) =>
        !p.metadata.deletionTimestamp &&
        p.metadata.annotations?.[CONFIG_HASH_ANNOTATION] === req.configHash &&
        p.metadata.annotations?.[MODE_ANNOTATION] === mode,
    );
    for (const pod of current) {
      const why = podFailure(pod);
      if (why !== undefined) {
        const node = pod.spec.nodeName ?? "(unscheduled)";
        throw new Error(why.startsWith("registry-mirrors: node ") ? why : `registry-mirrors: node ${node}: step ${mode}: ${why}`);
      }
    }
    const status = ds.status ?? {};
    const desired = status.desiredNumberScheduled ?? 0;
    const observed = (status.observedGeneration ?? 0) >= (ds.metadata.generation ?? 0);
    const ready = current.filter(isReady);
    if (observed && (status.updatedNumberScheduled ?? 0) >= desired && ready.length >= desired) {
      const nodes: NodeRollout[] = [];
      for (const pod of ready.sort((a, b) => (a.spec.nodeName ?? "").localeCompare(b.spec.nodeName ?? ""))) {
        nodes.push({ node: pod.spec.nodeName ?? "", pod: pod.metadata.name, ready: true, log: await podLog(conn, req.namespace, pod.metadata.name) });
      }
      return { mode, nodes };
    }
    pending = current.filter((p) => !isReady(p)).map((p) => p.spec.nodeName ?? p.metadata.name);
    if (Date.now() > deadline) {
      const detail = pending.length > 0 ? `not Ready on ${pending.join(", ")}` : `${ready.length} of ${desired} nodes Ready`;
      throw new Error(`registry-mirrors: DaemonSet ${req.namespace}/${req.name}: step ${mode}: ${detail} after ${req.timeoutSeconds} s`);
    }
    await sleep(1000);
  }
}

/**
 * Removal: switches the DaemonSet's pods to `remove` (a rollout: each node's pod runs the agent's remove, so the
 * node gets back the files it had) and waits for it. A DaemonSet that is already gone has nothing left to do.
 */
export async function removeThroughRollout(req: RolloutRequest): Promise<RolloutResult> {
  const conn = resolveKubeconfig(req.kubeconfig, { context: req.context });
  const base = `/apis/apps/v1/namespaces/${req.namespace}/daemonsets/${req.name}`;
  let ds: DaemonSet;
  try {
    ds = (await apiGetJson(conn, base)) as DaemonSet;
  } catch (e) {
    if (e instanceof ApiStatusError && e.status === 404) return { mode: "remove", nodes: [] };
    throw e;
  }
  const env = ds.spec.template.spec.containers[0]?.env ?? [];
  if (env[0]?.name !== MODE_VARIABLE)
    throw new Error(`DaemonSet ${req.namespace}/${req.name}: its first variable is not ${MODE_VARIABLE}; not a registry-mirrors DaemonSet?`);
  const escaped = MODE_ANNOTATION.replace(/~/g, "~0").replace(/\//g, "~1");
  await apiRequestJson(conn, "PATCH", base, {
    contentType: "application/json-patch+json",
    body: [
      { op: "test", path: "/spec/template/spec/containers/0/env/0/name", value: MODE_VARIABLE },
      { op: "replace", path: "/spec/template/spec/containers/0/env/0/value", value: "remove" },
      { op: "replace", path: `/spec/template/metadata/annotations/${escaped}`, value: "remove" },
    ],
  });
  return waitForRollout(req, "remove");
}
