/**
 * The part of a kubeconfig needed to reach one API server: server URL, TLS trust, client credentials.
 *
 * Why not `@kubernetes/client-node`: the library needs exactly one read (`GET /api/v1/nodes`), and that client brings
 * a large dependency tree (request/websocket/OIDC stacks, several of them pinned only loosely) into every stack that
 * uses this package. Node's own `https` does the call; the kubeconfig is parsed by the `yaml` library this package
 * already depends on, and only its documented fields are read (clientcmd v1 `Config`: clusters[].cluster.server,
 * certificate-authority(-data), insecure-skip-tls-verify, tls-server-name; users[].user.client-certificate(-data),
 * client-key(-data), token, tokenFile, username/password; contexts[].context.cluster/user; current-context).
 * Credential plugins (`exec`, `auth-provider`) and proxies are refused with an error naming the field, rather than
 * half-supported.
 */
import * as fs from "fs";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { Problem, RegistryMirrorsError } from "../model/types";

/** How to reach and authenticate to one API server, resolved from a kubeconfig context. */
export interface ApiServerConnection {
  /** The context used. */
  readonly context: string;
  /** `https://host:port` (a path prefix is kept). */
  readonly server: string;
  /** PEM of the CA bundle to trust; undefined: the system's trust store. */
  readonly ca?: string;
  /** PEM client certificate and key (mutual TLS). */
  readonly clientCert?: string;
  readonly clientKey?: string;
  /** Bearer token. */
  readonly token?: string;
  /** Basic auth. */
  readonly basic?: { readonly username: string; readonly password: string };
  /** Do not verify the server's certificate (`insecure-skip-tls-verify`). */
  readonly skipVerify: boolean;
  /** The name to verify the server's certificate against (`tls-server-name`). */
  readonly tlsServerName?: string;
}

interface Named<T> {
  name?: unknown;
  cluster?: T;
  user?: T;
  context?: T;
}

function fail(problems: Problem[]): never {
  throw new RegistryMirrorsError(problems, "unusable kubeconfig");
}

/** True when the argument looks like kubeconfig YAML/JSON text rather than a file path. */
export function isKubeconfigText(s: string): boolean {
  return s.includes("\n") || /^\s*[{]/.test(s) || /^\s*apiVersion\s*:/.test(s);
}

/**
 * Resolve a kubeconfig (a file path, or the YAML text itself) to an {@link ApiServerConnection}.
 *
 * @param kubeconfig - A path (relative file references inside are resolved against its directory, as kubectl does)
 *   or the kubeconfig text (relative references are then resolved against `baseDir`, default the working directory).
 * @param context - The context to use; default `current-context`.
 * @throws {@link RegistryMirrorsError} naming the field (`kubeconfig.users[admin].user.exec`, …) for anything that
 *   cannot be used.
 */
export function resolveKubeconfig(kubeconfig: string, opts: { context?: string; baseDir?: string } = {}): ApiServerConnection {
  let text = kubeconfig;
  let baseDir = opts.baseDir ?? process.cwd();
  let where = "kubeconfig";
  if (typeof kubeconfig !== "string" || kubeconfig.trim() === "") {
    fail([{ path: "kubeconfig", message: "give the path of a kubeconfig file or its YAML text" }]);
  }
  if (!isKubeconfigText(kubeconfig)) {
    try {
      text = fs.readFileSync(kubeconfig, "utf8");
    } catch (e) {
      fail([{ path: "kubeconfig", message: `cannot read ${kubeconfig}: ${(e as Error).message}` }]);
    }
    baseDir = path.dirname(path.resolve(kubeconfig));
    where = `kubeconfig (${kubeconfig})`;
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    fail([{ path: where, message: `not valid YAML: ${(e as Error).message}` }]);
  }
  return fromDocument(doc, { context: opts.context, baseDir, where });
}

function fromDocument(doc: unknown, o: { context?: string; baseDir: string; where: string }): ApiServerConnection {
  if (!doc || typeof doc !== "object" || Array.isArray(doc))
    fail([{ path: o.where, message: "not a kubeconfig (expected a mapping with clusters, users, contexts)" }]);
  const d = doc as Record<string, unknown>;
  if (d.kind !== undefined && d.kind !== "Config") fail([{ path: `${o.where}.kind`, message: `is ${JSON.stringify(d.kind)}, expected "Config"` }]);
  const contextName = o.context ?? (typeof d["current-context"] === "string" ? (d["current-context"] as string) : "");
  if (!contextName) fail([{ path: `${o.where}.current-context`, message: "is not set; name a context" }]);
  const find = <T>(list: string, name: string, field: "cluster" | "user" | "context"): T => {
    const arr = d[list];
    const entry = Array.isArray(arr) ? (arr as Named<T>[]).find((e) => e && e.name === name) : undefined;
    if (!entry) {
      const names = Array.isArray(arr) ? (arr as Named<T>[]).map((e) => e?.name).filter((n) => typeof n === "string") : [];
      fail([
        {
          path: `${o.where}.${list}`,
          message: `has no entry named ${JSON.stringify(name)} (has: ${names.map((n) => JSON.stringify(n)).join(", ") || "none"})`,
        },
      ]);
    }
    const body = entry[field];
    if (!body || typeof body !== "object") fail([{ path: `${o.where}.${list}[${name}].${field}`, message: "is missing" }]);
    return body;
  };
  const ctx = find<Record<string, unknown>>("contexts", contextName, "context");
  const clusterName = ctx.cluster;
  const userName = ctx.user;
  if (typeof clusterName !== "string" || !clusterName) fail([{ path: `${o.where}.contexts[${contextName}].context.cluster`, message: "is not set" }]);
  const cluster = find<Record<string, unknown>>("clusters", clusterName, "cluster");
  const cp = `${o.where}.clusters[${clusterName}].cluster`;
  const problems: Problem[] = [];
  const readRef = (p: string, data: unknown, file: unknown): string | undefined => {
    if (data !== undefined && data !== null && data !== "") {
      if (typeof data !== "string") {
        problems.push({ path: `${p}-data`, message: "must be base64 text" });
        return undefined;
      }
      return Buffer.from(data, "base64").toString("utf8");
    }
    if (file !== undefined && file !== null && file !== "") {
      if (typeof file !== "string") {
        problems.push({ path: p, message: "must be a file path" });
        return undefined;
      }
      const f = path.resolve(o.baseDir, file);
      try {
        return fs.readFileSync(f, "utf8");
      } catch (e) {
        problems.push({ path: p, message: `cannot read ${f}: ${(e as Error).message}` });
      }
    }
    return undefined;
  };
  const server = cluster.server;
  let url: URL | undefined;
  if (typeof server !== "string" || !server) problems.push({ path: `${cp}.server`, message: "is not set" });
  else {
    try {
      url = new URL(server);
      if (url.protocol !== "https:") problems.push({ path: `${cp}.server`, message: `${server}: only https:// API servers are supported` });
    } catch {
      problems.push({ path: `${cp}.server`, message: `${JSON.stringify(server)} is not a URL` });
    }
  }
  if (cluster["proxy-url"]) problems.push({ path: `${cp}.proxy-url`, message: "proxies are not supported" });
  const ca = readRef(`${cp}.certificate-authority`, cluster["certificate-authority-data"], cluster["certificate-authority"]);
  const skipVerify = cluster["insecure-skip-tls-verify"] === true;
  const tlsServerName = typeof cluster["tls-server-name"] === "string" ? (cluster["tls-server-name"] as string) : undefined;

  let user: Record<string, unknown> = {};
  let up = "";
  if (typeof userName === "string" && userName) {
    user = find<Record<string, unknown>>("users", userName, "user");
    up = `${o.where}.users[${userName}].user`;
  }
  if (user.exec) problems.push({ path: `${up}.exec`, message: "credential plugins are not supported; give a client certificate or a token" });
  if (user["auth-provider"])
    problems.push({ path: `${up}.auth-provider`, message: "auth providers are not supported; give a client certificate or a token" });
  if (user.as || user["as-groups"]) problems.push({ path: `${up}.as`, message: "impersonation is not supported" });
  const clientCert = readRef(`${up}.client-certificate`, user["client-certificate-data"], user["client-certificate"]);
  const clientKey = readRef(`${up}.client-key`, user["client-key-data"], user["client-key"]);
  if (!!clientCert !== !!clientKey)
    problems.push({ path: `${up}.${clientCert ? "client-key" : "client-certificate"}`, message: "is missing: a client certificate needs its key" });
  let token = typeof user.token === "string" && user.token ? (user.token as string) : undefined;
  if (!token && typeof user.tokenFile === "string" && user.tokenFile) token = readRef(`${up}.tokenFile`, undefined, user.tokenFile)?.trim();
  const basic =
    typeof user.username === "string" && user.username ? { username: user.username as string, password: String(user.password ?? "") } : undefined;
  if (problems.length > 0) fail(problems);
  return {
    context: contextName,
    server: url!.toString().replace(/\/$/, ""),
    ca,
    clientCert,
    clientKey,
    token,
    basic,
    skipVerify,
    tlsServerName,
  };
}
