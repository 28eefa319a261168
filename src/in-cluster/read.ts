/**
 * The read step of the in-cluster mode with config edits, run where Pulumi runs (`registry-mirrors rollout read`):
 * a short-lived DaemonSet runs `read.sh` on every node and prints what it found sealed to this command's X25519 key
 * (so the pods' logs hold nothing readable: config.toml may hold credentials); each node's read is rendered here,
 * with the same renderer as over SSH, into that node's own apply stdin, and all of them go into one Secret
 * (`<name>-nodes`, key `<node>.stdin`) that the component's DaemonSet mounts. The read DaemonSet is deleted before
 * this returns, whatever happened.
 */
import * as crypto from "crypto";
import { resolveKubeconfig, type ApiServerConnection } from "../kubernetes/kubeconfig";
import { apiGetJson, apiRequestJson, apiRequestText, ApiStatusError } from "../kubernetes/nodes";
import type { Mirror } from "../model/types";
import { RegistryMirrorsError } from "../model/types";
import { APP_LABEL, READ_LABEL, readDaemonSetManifest, type ReadDaemonSetOptions } from "./manifests";
import { inClusterNodePlanner, type InClusterPlanOptions } from "./plan";
import { isReady, podFailure, sleep, type Pod } from "./rollout";

/** What the read step reads on stdin (JSON): the kubeconfig and the mirrors hold credentials. */
export interface ReadRequest {
  /** Kubeconfig text or path. */
  readonly kubeconfig: string;
  readonly context?: string;
  readonly namespace: string;
  /** The component's DaemonSet name: the read DaemonSet is `<name>-read`, the Secret `<name>-nodes`. */
  readonly name: string;
  /** Seconds to wait for every node's read. */
  readonly timeoutSeconds: number;
  /** The pod settings of the component's DaemonSet (image, ConfigMap, priority, …). */
  readonly pod: Omit<ReadDaemonSetOptions, "publicKey" | "name" | "namespace">;
  readonly mirrors: Mirror[];
  readonly plan: InClusterPlanOptions;
}

/** What the read step found on one node. */
export interface NodeRead {
  /** The Node's name. */
  readonly node: string;
  /** Whether its config.toml changes (its containerd restarts in the rollout), or only hosts files do. */
  readonly configEdited: boolean;
  /** Its containerd's version, as read. */
  readonly runtimeVersion?: string;
}

/** The read step's result (no credential: the stdins are in the Secret). */
export interface ReadResult {
  /** The Secret of the nodes' stdins. */
  readonly secret: string;
  /** Its resourceVersion: the pods of a new read are told apart by it. */
  readonly version: string;
  readonly nodes: NodeRead[];
  /** What the renderer said about a node's config.toml (`registry-mirrors: node N: warning: …`). */
  readonly warnings: string[];
}

const SEAL_INFO = "registry-mirrors read v1";
/** DER prefix of an X25519 SubjectPublicKeyInfo; the raw key's 32 bytes follow. */
const X25519_SPKI_PREFIX = Buffer.from("302a300506032b656e032100", "hex");

/** A key pair for one read: the public half (raw, base64) goes to the pods, the private half never leaves here. */
export function readKeyPair(): { publicKey: string; open(sealed: string): string } {
  const { publicKey, privateKey } = crypto.generateKeyPairSync("x25519");
  const raw = publicKey.export({ format: "der", type: "spki" }).subarray(X25519_SPKI_PREFIX.length);
  return {
    publicKey: raw.toString("base64"),
    open(sealed: string): string {
      const bytes = Buffer.from(sealed, "base64");
      if (bytes.length < 32 + 12 + 16) throw new Error("the sealed read is too short");
      const podKey = bytes.subarray(0, 32);
      const nonce = bytes.subarray(32, 44);
      const body = bytes.subarray(44, bytes.length - 16);
      const tag = bytes.subarray(bytes.length - 16);
      const shared = crypto.diffieHellman({
        privateKey,
        publicKey: crypto.createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, podKey]), format: "der", type: "spki" }),
      });
      const key = crypto.createHash("sha256").update(SEAL_INFO).update(shared).update(podKey).update(raw).digest();
      const decipher = crypto.createDecipheriv("aes-256-gcm", key, nonce);
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(body), decipher.final()]).toString("utf8");
    },
  };
}

/** The sealed block of a read pod's log (between RM-SEALED-BEGIN and RM-SEALED-END), or undefined. */
export function sealedBlock(log: string): string | undefined {
  const lines = log.split("\n");
  const begin = lines.indexOf("RM-SEALED-BEGIN");
  const end = lines.indexOf("RM-SEALED-END", begin + 1);
  return begin < 0 || end < 0 ? undefined : lines.slice(begin + 1, end).join("");
}

const readName = (name: string) => `${name}-read`;
/** The Secret of the nodes' stdins of the component `name`. */
export const nodesSecretName = (name: string): string => `${name}-nodes`;

async function deleteIfThere(conn: ApiServerConnection, apiPath: string): Promise<boolean> {
  try {
    await apiRequestJson(conn, "DELETE", `${apiPath}?propagationPolicy=Background`);
    return true;
  } catch (e) {
    if (e instanceof ApiStatusError && e.status === 404) return false;
    throw e;
  }
}

async function waitGone(conn: ApiServerConnection, apiPath: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await apiGetJson(conn, apiPath);
    } catch (e) {
      if (e instanceof ApiStatusError && e.status === 404) return;
      throw e;
    }
    if (Date.now() > deadline) throw new Error(`${apiPath} is still there after ${timeoutMs / 1000} s`);
    await sleep(500);
  }
}

/** Runs the read DaemonSet until every scheduled node's pod is Ready; each node's read, opened. */
async function readNodes(conn: ApiServerConnection, req: ReadRequest): Promise<Map<string, string>> {
  const ns = req.namespace;
  const dsPath = `/apis/apps/v1/namespaces/${ns}/daemonsets/${readName(req.name)}`;
  // One left by an interrupted run was made for another key.
  if (await deleteIfThere(conn, dsPath)) await waitGone(conn, dsPath, 60_000);
  const keys = readKeyPair();
  const manifest = readDaemonSetManifest({ ...req.pod, name: req.name, namespace: ns, publicKey: keys.publicKey });
  await apiRequestJson(conn, "POST", `/apis/apps/v1/namespaces/${ns}/daemonsets`, { body: manifest });
  try {
    const deadline = Date.now() + req.timeoutSeconds * 1000;
    const selector = encodeURIComponent(`${READ_LABEL}=${req.name}`);
    for (;;) {
      const ds = (await apiGetJson(conn, dsPath)) as {
        metadata: { generation?: number };
        status?: { observedGeneration?: number; desiredNumberScheduled?: number };
      };
      const pods = ((await apiGetJson(conn, `/api/v1/namespaces/${ns}/pods?labelSelector=${selector}`)) as { items: Pod[] }).items.filter(
        (p) => !p.metadata.deletionTimestamp,
      );
      for (const pod of pods) {
        const why = podFailure(pod);
        if (why !== undefined) {
          throw new Error(
            why.startsWith("registry-mirrors: node ") ? why : `registry-mirrors: node ${pod.spec.nodeName ?? "(unscheduled)"}: step read: ${why}`,
          );
        }
      }
      // Until the controller has seen the DaemonSet, its status says nothing about the nodes.
      const observed = (ds.status?.observedGeneration ?? 0) >= (ds.metadata.generation ?? 1);
      const desired = observed ? ds.status?.desiredNumberScheduled : undefined;
      const ready = pods.filter(isReady);
      if (desired !== undefined && ready.length >= desired && ready.length === pods.length) {
        const reads = new Map<string, string>();
        for (const pod of ready) {
          const node = pod.spec.nodeName ?? "";
          const log = await apiRequestText(conn, "GET", `/api/v1/namespaces/${ns}/pods/${pod.metadata.name}/log?container=node-agent`);
          const sealed = sealedBlock(log);
          if (sealed === undefined) throw new Error(`registry-mirrors: node ${node}: step read: its pod's log has no sealed read`);
          try {
            reads.set(node, keys.open(sealed));
          } catch (e) {
            throw new Error(`registry-mirrors: node ${node}: step read: the sealed read does not open (${(e as Error).message})`);
          }
        }
        return reads;
      }
      if (Date.now() > deadline) {
        const waiting = pods.filter((p) => !isReady(p)).map((p) => p.spec.nodeName ?? p.metadata.name);
        throw new Error(
          `registry-mirrors: DaemonSet ${ns}/${readName(req.name)}: step read: ${waiting.length > 0 ? `not Ready on ${waiting.join(", ")}` : `${ready.length} of ${desired ?? "?"} nodes read`} after ${req.timeoutSeconds} s`,
        );
      }
      await sleep(1000);
    }
  } finally {
    await deleteIfThere(conn, dsPath).catch(() => undefined);
  }
}

/**
 * Each node's stdin from its read (node name → `read.sh`'s output), as the Secret's data (`<node>.stdin`, base64),
 * with what the read found and the renderer's warnings, each naming its node.
 *
 * @throws naming every node whose plan the renderer refuses (`registry-mirrors: node N: step render: …`).
 */
export function planNodeReads(
  mirrors: Mirror[],
  plan: InClusterPlanOptions,
  reads: ReadonlyMap<string, string>,
): { data: Record<string, string>; nodes: NodeRead[]; warnings: string[] } {
  const planNode = inClusterNodePlanner(mirrors, plan);
  const data: Record<string, string> = {};
  const nodes: NodeRead[] = [];
  const warnings: string[] = [];
  const problems: string[] = [];
  for (const [node, out] of [...reads].sort(([a], [b]) => a.localeCompare(b))) {
    try {
      const planned = planNode(out);
      data[`${node}.stdin`] = Buffer.from(planned.stdin, "utf8").toString("base64");
      nodes.push({ node, configEdited: planned.configEdited, runtimeVersion: planned.runtimeVersion });
      warnings.push(...planned.warnings.map((w) => `registry-mirrors: node ${node}: warning: ${w}`));
    } catch (e) {
      const what = e instanceof RegistryMirrorsError ? e.problems.map((p) => `${p.path}: ${p.message}`).join("; ") : (e as Error).message;
      problems.push(`registry-mirrors: node ${node}: step render: ${what}`);
    }
  }
  if (problems.length > 0) throw new Error(problems.join("\n"));
  return { data, nodes, warnings };
}

/**
 * Reads every node, renders each node's stdin and writes the Secret `<name>-nodes` (created or replaced whole: a
 * node that left loses its key).
 *
 * @throws naming the node and the step (read or render) that failed; the Secret is then left as it was.
 */
export async function readAndPlanNodes(req: ReadRequest): Promise<ReadResult> {
  const conn = resolveKubeconfig(req.kubeconfig, { context: req.context });
  const { data, nodes, warnings } = planNodeReads(req.mirrors, req.plan, await readNodes(conn, req));
  const secretPath = `/api/v1/namespaces/${req.namespace}/secrets/${nodesSecretName(req.name)}`;
  const body = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: nodesSecretName(req.name), namespace: req.namespace, labels: { [APP_LABEL]: req.name } },
    type: "Opaque",
    data,
  };
  let saved: { metadata: { resourceVersion: string } };
  try {
    const old = (await apiGetJson(conn, secretPath)) as { metadata: { resourceVersion: string } };
    saved = (await apiRequestJson(conn, "PUT", secretPath, {
      body: { ...body, metadata: { ...body.metadata, resourceVersion: old.metadata.resourceVersion } },
    })) as typeof saved;
  } catch (e) {
    if (!(e instanceof ApiStatusError && e.status === 404)) throw e;
    saved = (await apiRequestJson(conn, "POST", `/api/v1/namespaces/${req.namespace}/secrets`, { body })) as typeof saved;
  }
  return { secret: nodesSecretName(req.name), version: saved.metadata.resourceVersion, nodes, warnings };
}

/** On the component's delete, after the removal rollout: the nodes' Secret and any read DaemonSet left behind. */
export async function forgetNodes(req: Pick<ReadRequest, "kubeconfig" | "context" | "namespace" | "name">): Promise<{ deleted: string[] }> {
  const conn = resolveKubeconfig(req.kubeconfig, { context: req.context });
  const deleted: string[] = [];
  if (await deleteIfThere(conn, `/api/v1/namespaces/${req.namespace}/secrets/${nodesSecretName(req.name)}`)) deleted.push(nodesSecretName(req.name));
  if (await deleteIfThere(conn, `/apis/apps/v1/namespaces/${req.namespace}/daemonsets/${readName(req.name)}`)) deleted.push(readName(req.name));
  return { deleted };
}
