/**
 * The nodes of a cluster, as the API server reports them: name, InternalIP, container runtime (from
 * `status.nodeInfo.containerRuntimeVersion`), labels. One paginated `GET /api/v1/nodes` over Node's `https`
 * (see kubeconfig.ts for why no Kubernetes client library).
 */
import * as https from "https";
import { parseRuntimeVersion } from "../model/version";
import { RegistryMirrorsError, RuntimeInfo } from "../model/types";
import { ApiServerConnection, resolveKubeconfig } from "./kubeconfig";

/** One Node of the cluster. */
export interface ClusterNode {
  /** `metadata.name`. */
  readonly name: string;
  /** The first `InternalIP` of `status.addresses`; undefined when the node reports none. */
  readonly internalIP?: string;
  /** The first `Hostname` of `status.addresses`. */
  readonly hostname?: string;
  /** Every address the node reports (`InternalIP`, `ExternalIP`, `Hostname`, …), in order. */
  readonly addresses: readonly { readonly type: string; readonly address: string }[];
  /** The runtime parsed from `status.nodeInfo.containerRuntimeVersion` (`containerd://1.7.13` → containerd 1.7.13). */
  readonly runtime: RuntimeInfo;
  /** `status.nodeInfo.containerRuntimeVersion` as reported. */
  readonly containerRuntimeVersion: string;
  /** `status.nodeInfo.kubeletVersion`. */
  readonly kubeletVersion?: string;
  /** `metadata.labels`. */
  readonly labels: Readonly<Record<string, string>>;
  /** Whether the `Ready` condition is `True`. */
  readonly ready: boolean;
}

export interface ListNodesOptions {
  /** A kubeconfig file path or its YAML text. */
  readonly kubeconfig: string;
  /** The kubeconfig context; default its `current-context`. */
  readonly context?: string;
  /** A label selector, e.g. `node-role.kubernetes.io/worker` or `pool=gpu,zone!=b`. */
  readonly labelSelector?: string;
  /** Bound for each request. @default 15000 */
  readonly timeoutMs?: number;
  /** Nodes per request (`limit`; the rest is fetched with `continue`). @default 500 */
  readonly pageSize?: number;
}

/** Runtimes a Node can report, by the scheme of `containerRuntimeVersion`. */
const NODE_RUNTIME_SCHEMES = ["containerd", "cri-o", "docker"];

/**
 * Parse one Node object (`v1.Node` as JSON) into a {@link ClusterNode}.
 *
 * @param where - The field path used in errors, e.g. `nodes[3]`.
 * @throws {@link RegistryMirrorsError} naming the field when the name or the runtime is missing or unrecognised.
 */
export function parseNode(obj: unknown, where = "node"): ClusterNode {
  const o = (obj && typeof obj === "object" ? obj : {}) as {
    metadata?: { name?: unknown; labels?: unknown };
    status?: { addresses?: unknown; nodeInfo?: { containerRuntimeVersion?: unknown; kubeletVersion?: unknown }; conditions?: unknown };
  };
  const name = o.metadata?.name;
  if (typeof name !== "string" || name === "") {
    throw new RegistryMirrorsError([{ path: `${where}.metadata.name`, message: "is missing" }], "unusable Node object");
  }
  const at = `${where} (${name}).status.nodeInfo.containerRuntimeVersion`;
  const crv = o.status?.nodeInfo?.containerRuntimeVersion;
  if (typeof crv !== "string" || crv === "") {
    throw new RegistryMirrorsError([{ path: at, message: "is empty: the kubelet has not reported its runtime yet" }], "unusable Node object");
  }
  const scheme = /^([a-z0-9-]+):\/\//.exec(crv)?.[1];
  if (!scheme || !NODE_RUNTIME_SCHEMES.includes(scheme)) {
    throw new RegistryMirrorsError(
      [{ path: at, message: `${JSON.stringify(crv)}: expected ${NODE_RUNTIME_SCHEMES.map((s) => `${s}://VERSION`).join(", ")}` }],
      "unsupported container runtime",
    );
  }
  let runtime: RuntimeInfo;
  try {
    runtime = parseRuntimeVersion(crv);
  } catch {
    throw new RegistryMirrorsError([{ path: at, message: `${JSON.stringify(crv)}: no version after ${scheme}://` }], "unsupported container runtime");
  }
  const addresses = (Array.isArray(o.status?.addresses) ? (o.status!.addresses as unknown[]) : [])
    .filter(
      (a): a is { type: string; address: string } =>
        !!a &&
        typeof a === "object" &&
        typeof (a as { type?: unknown }).type === "string" &&
        typeof (a as { address?: unknown }).address === "string",
    )
    .map((a) => ({ type: a.type, address: a.address }));
  const labels: Record<string, string> = {};
  if (o.metadata?.labels && typeof o.metadata.labels === "object") {
    for (const [k, v] of Object.entries(o.metadata.labels as Record<string, unknown>)) if (typeof v === "string") labels[k] = v;
  }
  const conditions = Array.isArray(o.status?.conditions) ? (o.status!.conditions as { type?: unknown; status?: unknown }[]) : [];
  return {
    name,
    internalIP: addresses.find((a) => a.type === "InternalIP")?.address,
    hostname: addresses.find((a) => a.type === "Hostname")?.address,
    addresses,
    runtime,
    containerRuntimeVersion: crv,
    kubeletVersion: typeof o.status?.nodeInfo?.kubeletVersion === "string" ? o.status.nodeInfo.kubeletVersion : undefined,
    labels,
    ready: conditions.some((c) => c && c.type === "Ready" && c.status === "True"),
  };
}

/**
 * Parse a `v1.NodeList` (its `items`); every unusable node is reported at once.
 *
 * @throws {@link RegistryMirrorsError} with one problem per unusable node.
 */
export function parseNodeList(list: unknown): ClusterNode[] {
  const items = list && typeof list === "object" ? (list as { items?: unknown }).items : undefined;
  if (!Array.isArray(items)) {
    throw new RegistryMirrorsError([{ path: "NodeList.items", message: "is missing: not a NodeList" }], "unusable answer from the API server");
  }
  const out: ClusterNode[] = [];
  const problems: RegistryMirrorsError["problems"] = [];
  items.forEach((item, i) => {
    try {
      out.push(parseNode(item, `nodes[${i}]`));
    } catch (e) {
      if (e instanceof RegistryMirrorsError) problems.push(...e.problems);
      else throw e;
    }
  });
  if (problems.length > 0) throw new RegistryMirrorsError(problems, "unusable Node objects");
  return out;
}

/** GET a path of the API server; the parsed JSON body. Errors name the server, the path and the status. */
export function apiGetJson(conn: ApiServerConnection, apiPath: string, timeoutMs = 15_000): Promise<unknown> {
  return apiRequestJson(conn, "GET", apiPath, { timeoutMs });
}

/** What {@link apiRequestJson} sends besides the method and path. */
export interface ApiRequestOptions {
  /** JSON body. */
  readonly body?: unknown;
  /** Content type of the body (a patch type such as `application/json-patch+json`). Default `application/json`. */
  readonly contentType?: string;
  readonly timeoutMs?: number;
}

/** An API server answer that is not 2xx; `status` lets a caller tell a 404 from a failure. */
export class ApiStatusError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = "ApiStatusError";
  }
}

/**
 * One request to the API server; the parsed JSON body. Errors name the method, the server, the path and the status
 * ({@link ApiStatusError} for an HTTP status).
 */
export async function apiRequestJson(conn: ApiServerConnection, method: string, apiPath: string, opts: ApiRequestOptions = {}): Promise<unknown> {
  const body = await apiRequestText(conn, method, apiPath, opts);
  try {
    return JSON.parse(body);
  } catch {
    throw new Error(`${method} ${conn.server}${apiPath}: the answer is not JSON: ${body.slice(0, 200)}`);
  }
}

/** One request to the API server; the body as text (a pod's log). Errors as {@link apiRequestJson}. */
export function apiRequestText(conn: ApiServerConnection, method: string, apiPath: string, opts: ApiRequestOptions = {}): Promise<string> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const what = `${method} ${conn.server}${apiPath}`;
  return new Promise((resolve, reject) => {
    const url = new URL(conn.server + apiPath);
    const headers: Record<string, string> = { accept: "application/json", "user-agent": "registry-mirrors" };
    if (conn.token) headers.authorization = `Bearer ${conn.token}`;
    else if (conn.basic) headers.authorization = `Basic ${Buffer.from(`${conn.basic.username}:${conn.basic.password}`).toString("base64")}`;
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body), "utf8");
    if (payload) {
      headers["content-type"] = opts.contentType ?? "application/json";
      headers["content-length"] = String(payload.length);
    }
    const req = https.request(
      {
        host: url.hostname.replace(/^\[|\]$/g, ""),
        port: url.port || 443,
        path: url.pathname + url.search,
        method,
        headers,
        ca: conn.ca,
        cert: conn.clientCert,
        key: conn.clientKey,
        rejectUnauthorized: !conn.skipVerify,
        servername: conn.tlsServerName,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 299) {
            let message = body.slice(0, 300);
            try {
              message = (JSON.parse(body) as { message?: string }).message ?? message;
            } catch {
              /* not a Status object */
            }
            reject(new ApiStatusError(`${what}: HTTP ${status}: ${message}`, status));
            return;
          }
          resolve(body);
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${what}: no answer within ${timeoutMs} ms`)));
    req.on("error", (e) => reject(e.message.startsWith(`${method} `) ? e : new Error(`${what}: ${e.message}`)));
    req.end(payload);
  });
}

/**
 * List the cluster's Nodes (all pages), optionally by label selector, sorted by name.
 *
 * @throws {@link RegistryMirrorsError} for an unusable kubeconfig or Node; `Error` naming the server for a failed
 *   request (unreachable, TLS, HTTP 401/403 with the API server's message).
 */
export async function listNodes(opts: ListNodesOptions): Promise<ClusterNode[]> {
  const conn = resolveKubeconfig(opts.kubeconfig, { context: opts.context });
  const items: unknown[] = [];
  let cont: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const q = new URLSearchParams({ limit: String(opts.pageSize ?? 500) });
    if (opts.labelSelector) q.set("labelSelector", opts.labelSelector);
    if (cont) q.set("continue", cont);
    const list = (await apiGetJson(conn, `/api/v1/nodes?${q.toString()}`, opts.timeoutMs)) as { items?: unknown[]; metadata?: { continue?: string } };
    items.push(...(Array.isArray(list.items) ? list.items : []));
    if (!Array.isArray(list.items)) parseNodeList(list);
    cont = list.metadata?.continue || undefined;
    if (!cont) break;
  }
  return parseNodeList({ items }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
