/**
 * The Kubernetes objects of the in-cluster mode, as plain JSON (the component hands them to
 * `@pulumi/kubernetes`; the rollout wait reads them back): a ConfigMap with the node agent's scripts (readable in
 * `pulumi preview --diff`), a Secret with what they read on stdin (credentials) and a privileged DaemonSet that runs
 * them on every node's filesystem.
 */

/** The node agent's image; override with `image` (build it from src/in-cluster/pod: one static binary). */
export const DEFAULT_NODE_AGENT_IMAGE = "ghcr.io/registry-mirrors/node-agent:0.1.0";

/** Annotation on the pod template: the hash of the Secret's content, so that a change rolls the DaemonSet. */
export const CONFIG_HASH_ANNOTATION = "registry-mirrors.io/config-hash";
/** Annotation on the pod template: `apply` or `remove` (the removal rollout before the DaemonSet is deleted). */
export const MODE_ANNOTATION = "registry-mirrors.io/mode";
/** The container's environment variable for the mode; the first of its `env`, so a JSON patch can address it. */
export const MODE_VARIABLE = "REGISTRY_MIRRORS_MODE";
/** The label that selects the DaemonSet's pods. */
export const APP_LABEL = "registry-mirrors.io/instance";
/** The label that selects the read step's pods (another DaemonSet: the component's must not adopt them). */
export const READ_LABEL = "registry-mirrors.io/read";
/** The read step's environment variable: the rollout command's X25519 public key the read is sealed to. */
export const READ_KEY_VARIABLE = "REGISTRY_MIRRORS_READ_KEY";

/** What {@link daemonSetManifest} needs. */
export interface DaemonSetOptions {
  readonly name: string;
  readonly namespace: string;
  /** The ConfigMap with apply.sh and remove.sh. */
  readonly scriptsName: string;
  /** The Secret with apply.stdin. */
  readonly secretName: string;
  /**
   * With config edits: the Secret of each node's own apply stdin (`<node>.stdin`), written by the read step. A node
   * without a key (one that joined after that read) gets apply.stdin: hosts files only.
   */
  readonly nodesSecretName?: string;
  readonly configHash: string;
  readonly image: string;
  readonly imagePullPolicy: string;
  readonly priorityClassName?: string;
  /** Nodes whose pods may be replaced at once. */
  readonly maxUnavailable: number;
  readonly nodeSelector?: Readonly<Record<string, string>>;
  /** Seconds the node agent may run per pod. */
  readonly agentTimeoutSeconds: number;
  readonly resources: PodResources;
}

/** The node agent container's resource requests and limits (Kubernetes quantities, e.g. `cpu: 10m`, `memory: 16Mi`). */
export interface PodResources {
  /** What the scheduler reserves on each node, by resource name. */
  readonly requests: Record<string, string>;
  /** What the container may use at most, by resource name. */
  readonly limits: Record<string, string>;
}

/** The container's resources unless the caller says otherwise: the agent is a shell script and one small binary. */
export const DEFAULT_RESOURCES: PodResources = { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "200m", memory: "64Mi" } };

/**
 * The DaemonSet. Privileged (it writes the host's files and asks the host's containerd), in the host's network (the
 * probe must see what the node sees) and PID namespaces (the node lock tells a live holder, say an SSH apply of
 * another stack, from a stale one with `kill -0`), tolerating every taint so that every node gets its files,
 * with the host's root at /host (the agent chroots there). Ready only once the agent finished on that node.
 */
export function daemonSetManifest(o: DaemonSetOptions): Record<string, unknown> {
  const labels = { [APP_LABEL]: o.name };
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: {
      name: o.name,
      namespace: o.namespace,
      labels,
      // The component waits for the rollout itself and names the failing node and its reason.
      annotations: { "pulumi.com/skipAwait": "true" },
    },
    spec: {
      selector: { matchLabels: labels },
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: o.maxUnavailable } },
      template: {
        metadata: { labels, annotations: { [CONFIG_HASH_ANNOTATION]: o.configHash, [MODE_ANNOTATION]: "apply" } },
        spec: {
          hostNetwork: true,
          hostPID: true,
          dnsPolicy: "ClusterFirstWithHostNet",
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          ...(o.priorityClassName ? { priorityClassName: o.priorityClassName } : {}),
          ...(o.nodeSelector ? { nodeSelector: { ...o.nodeSelector } } : {}),
          tolerations: [{ operator: "Exists" }],
          terminationGracePeriodSeconds: 5,
          containers: [
            {
              name: "node-agent",
              image: o.image,
              imagePullPolicy: o.imagePullPolicy,
              env: [
                { name: MODE_VARIABLE, value: "apply" },
                { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
                { name: "REGISTRY_MIRRORS_TIMEOUT_SECONDS", value: String(o.agentTimeoutSeconds) },
              ],
              securityContext: { privileged: true },
              readinessProbe: { exec: { command: ["/registry-mirrors-node-agent", "ready"] }, periodSeconds: 2, failureThreshold: 1 },
              terminationMessagePolicy: "File",
              resources: { requests: { ...o.resources.requests }, limits: { ...o.resources.limits } },
              volumeMounts: [
                { name: "host", mountPath: "/host" },
                { name: "scripts", mountPath: "/etc/registry-mirrors/scripts", readOnly: true },
                { name: "secret", mountPath: "/etc/registry-mirrors/secret", readOnly: true },
                ...(o.nodesSecretName ? [{ name: "nodes", mountPath: "/etc/registry-mirrors/nodes", readOnly: true }] : []),
                { name: "run", mountPath: "/run/registry-mirrors-node-agent" },
              ],
            },
          ],
          volumes: [
            { name: "host", hostPath: { path: "/", type: "Directory" } },
            { name: "scripts", configMap: { name: o.scriptsName, defaultMode: 0o400 } },
            { name: "secret", secret: { secretName: o.secretName, defaultMode: 0o400 } },
            ...(o.nodesSecretName ? [{ name: "nodes", secret: { secretName: o.nodesSecretName, defaultMode: 0o400, optional: true } }] : []),
            { name: "run", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
          ],
        },
      },
    },
  };
}

/** What {@link readDaemonSetManifest} needs besides the component's pod settings. */
export interface ReadDaemonSetOptions extends Omit<DaemonSetOptions, "secretName" | "nodesSecretName" | "configHash" | "maxUnavailable"> {
  /** The rollout command's X25519 public key (raw, base64): each pod seals its node's read to it. */
  readonly publicKey: string;
}

/**
 * The read step's DaemonSet (`<name>-read`), created and deleted by the rollout command: the component's pod on
 * every node, running `read.sh` (the node's config.toml, containerd version and this instance's files) and printing
 * it sealed to the command's key, so that the pods' logs hold nothing readable.
 */
export function readDaemonSetManifest(o: ReadDaemonSetOptions): Record<string, unknown> {
  const ds = daemonSetManifest({ ...o, secretName: "", configHash: "read", maxUnavailable: 1 }) as {
    metadata: Record<string, unknown>;
    spec: { selector: unknown; template: { metadata: Record<string, unknown>; spec: Record<string, unknown> } };
  };
  const labels = { [READ_LABEL]: o.name };
  const pod = ds.spec.template.spec as { containers: Record<string, unknown>[]; volumes: { name: string }[] };
  const container = pod.containers[0] as { env: { name: string; value?: string }[]; volumeMounts: { name: string }[] };
  container.env = [{ name: MODE_VARIABLE, value: "read" }, ...container.env.slice(1), { name: READ_KEY_VARIABLE, value: o.publicKey }];
  container.volumeMounts = container.volumeMounts.filter((m) => m.name !== "secret");
  pod.volumes = pod.volumes.filter((v) => v.name !== "secret");
  return {
    ...ds,
    metadata: { name: `${o.name}-read`, namespace: o.namespace, labels },
    spec: {
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: pod },
    },
  };
}
