/**
 * k3s and RKE2: their embedded containerd is configured by the distribution itself, at every start, from
 * `/etc/rancher/{k3s,rke2}/registries.yaml`; a config.toml edit is overwritten and `/etc/containerd/certs.d` is never
 * read. So the plan edits registries.yaml (merged into the live file, entries of others kept) and writes the
 * certificate files it names; the distribution restarts to regenerate its hosts.toml files from it.
 *
 * Sources: docs.k3s.io "Private Registry Configuration" (mirrors with ordered endpoints, `"*"`, `configs.<host>`
 * with auth and tls by file path, the default endpoint always tried last unless the node runs with
 * `--disable-default-registry-endpoint`, the file read only at start); k3s pkg/agent/containerd/config.go and
 * pkg/agent/templates/templates.go (each endpoint becomes a `[host]` with pull and resolve, a path other than "",
 * "/" or "/v2" is kept with `override_path`, TLS files by path, credentials in config.toml's `registry.configs`).
 */
import { parseDocument, YAMLMap, type Document } from "yaml";
import { mainConfigPath, runtimeAction } from "../model/runtimes";
import { RegistryMirrorsError, type Mirror, type NodePaths, type Problem, type RuntimeInfo } from "../model/types";
import { canonicalUpstream } from "../model/validate";
import { versionAtLeast } from "../model/version";
import { DEFAULT_CAPABILITIES, OWNED_MARKER, effectiveCapabilities, hostSlug, parseEndpointUrl, pemFile, sortFiles } from "./common";
import type { NodePlan, PlannedFile } from "./types";

/** What our spec becomes in registries.yaml: the entries and the certificate files they name. */
export interface RegistriesYamlEntries {
  /** `mirrors.<registry>`, in the spec's order (`"*"` for the catch-all). */
  readonly mirrors: Record<string, { endpoint: string[] }>;
  /** `configs.<host>` for endpoint hosts with credentials or TLS settings, sorted by host. */
  readonly configs: Record<string, Record<string, unknown>>;
  /** The certificate files `configs.*.tls` names. */
  readonly files: PlannedFile[];
  /** Whether `configs` holds credentials (the file must then be readable by root only). */
  readonly secret: boolean;
}

/** Options of {@link registriesYamlEntries}. */
export interface RegistriesYamlOptions {
  /** Where the certificate files go, one directory per endpoint host. */
  readonly certDir: string;
  /** The nodes run with `--disable-default-registry-endpoint` (which applies to every registry of the node). */
  readonly defaultEndpointDisabled?: boolean;
  /** The distribution and its version, for the messages (`k3s`, `RKE2`). */
  readonly product: string;
  readonly version?: string;
  /** What to do about `fallback: false` without the flag, instead of the node-side advice. */
  readonly fallbackHint?: string;
  /** The first line of the error. Default `cannot configure <product> (registries.yaml)`. */
  readonly errorSummary?: string;
}

/** The releases that have `--disable-default-registry-endpoint` (docs.k3s.io, private registry configuration). */
const DEFAULT_ENDPOINT_FLAG_SINCE: Readonly<Record<string, string>> = { "1.26": "1.26.13", "1.27": "1.27.10", "1.28": "1.28.6", "1.29": "1.29.1" };

/** Whether a k3s/RKE2 version has `--disable-default-registry-endpoint`; unknown versions count as not having it. */
export function hasDefaultEndpointFlag(version: string | undefined): boolean {
  if (version === undefined || !versionAtLeast(version, "1.26.0")) return false;
  const minor = /^v?(\d+\.\d+)/.exec(version)?.[1] ?? "";
  return versionAtLeast(version, DEFAULT_ENDPOINT_FLAG_SINCE[minor] ?? "1.29.1");
}

/**
 * Our mirrors as registries.yaml entries. Throws {@link RegistryMirrorsError} naming each field registries.yaml
 * cannot express: per-endpoint capabilities, headers, `digestOnly`, different TLS or credentials for one host, and
 * `fallback: false` unless the nodes disable the default endpoint (then every mirror must say so).
 */
export function registriesYamlEntries(mirrors: readonly Mirror[], options: RegistriesYamlOptions): RegistriesYamlEntries {
  const certDir = options.certDir.replace(/\/+$/, "");
  const { product } = options;
  const problems: Problem[] = [];
  const out: Record<string, { endpoint: string[] }> = {};
  const configs: Record<string, { value: Record<string, unknown> | null; from: string }> = {};
  const files: PlannedFile[] = [];
  let secret = false;
  mirrors.forEach((mirror, i) => {
    const at = `mirrors[${i}]`;
    const noFallback = mirror.fallback === false;
    if (noFallback && !options.defaultEndpointDisabled) {
      const flag = options.fallbackHint
        ? options.fallbackHint
        : hasDefaultEndpointFlag(options.version)
          ? `${product}'s --disable-default-registry-endpoint stops it for every registry of the node: set it in the node's ${product} configuration yourself, then set fallback: false on every mirror`
          : `${product}${options.version ? ` ${options.version}` : ""} has no --disable-default-registry-endpoint (from v1.26.13, v1.27.10, v1.28.6, v1.29.1)`;
      problems.push({
        path: `${at}.fallback`,
        message: `registries.yaml cannot stop the fallback to the upstream; ${flag}; or remove fallback: false`,
      });
    } else if (!noFallback && options.defaultEndpointDisabled) {
      problems.push({
        path: `${at}.fallback`,
        message: "--disable-default-registry-endpoint stops the fallback for every registry in registries.yaml; set fallback: false here too",
      });
    }
    if (mirror.digestOnly)
      problems.push({
        path: `${at}.digestOnly`,
        message: `${product} cannot restrict mirrors to pulls by digest; remove digestOnly for ${product} nodes`,
      });
    mirror.endpoints.forEach((endpoint, j) => {
      const epAt = `${at}.endpoints[${j}]`;
      const caps = effectiveCapabilities(mirror, endpoint);
      if (!mirror.digestOnly && (caps.length !== DEFAULT_CAPABILITIES.length || DEFAULT_CAPABILITIES.some((c) => !caps.includes(c)))) {
        problems.push({
          path: `${epAt}.capabilities`,
          message: `${product} always uses a mirror for pull and resolve; remove capabilities for ${product} nodes`,
        });
      }
      if (endpoint.headers && Object.keys(endpoint.headers).length > 0)
        problems.push({ path: `${epAt}.headers`, message: `registries.yaml cannot send headers to a mirror; remove them for ${product} nodes` });
      const host = parseEndpointUrl(endpoint.url).hostPort;
      const tls: Record<string, unknown> = {};
      const certFiles: PlannedFile[] = [];
      const dir = `${certDir}/${hostSlug(host)}`;
      for (const [field, name, key, mode] of [
        ["caCert", "ca.crt", "ca_file", 0o644],
        ["clientCert", "client.cert", "cert_file", 0o644],
        ["clientKey", "client.key", "key_file", 0o600],
      ] as const) {
        const pem = endpoint[field];
        if (!pem) continue;
        tls[key] = `${dir}/${name}`;
        certFiles.push({ path: `${dir}/${name}`, content: pemFile(pem), mode, ...(field === "clientKey" ? { secret: true } : {}) });
      }
      if (endpoint.skipVerify) tls.insecure_skip_verify = true;
      const value: Record<string, unknown> = {};
      if (endpoint.auth) value.auth = { username: endpoint.auth.username, password: endpoint.auth.password };
      if (Object.keys(tls).length > 0) value.tls = tls;
      const config = Object.keys(value).length > 0 ? value : null;
      const earlier = configs[host];
      if (earlier && JSON.stringify(earlier.value) !== JSON.stringify(config)) {
        problems.push({
          path: epAt,
          message: `registries.yaml keys TLS and credentials by host, and ${earlier.from} on the same host ${host} has different ones; make them equal`,
        });
      } else if (!earlier) {
        configs[host] = { value: config, from: epAt };
        files.push(...certFiles);
        if (endpoint.auth) secret = true;
      }
    });
    out[mirror.upstream === "*" ? "*" : canonicalUpstream(mirror.upstream)] = { endpoint: mirror.endpoints.map((e) => parseEndpointUrl(e.url).url) };
  });
  if (problems.length > 0) throw new RegistryMirrorsError(problems, options.errorSummary ?? `cannot configure ${product} (registries.yaml)`);
  const hosts = Object.keys(configs)
    .filter((h) => configs[h].value !== null)
    .sort();
  return { mirrors: out, configs: Object.fromEntries(hosts.map((h) => [h, configs[h].value as Record<string, unknown>])), files, secret };
}

/** Where the certificate files of a k3s/RKE2 node go: beside registries.yaml. */
export function rancherCertDir(registriesYaml: string): string {
  return `${registriesYaml.replace(/\/[^/]*$/, "")}/registry-mirrors`;
}

/** The error for a registries.yaml we cannot edit safely. */
function unusableLive(message: string, product: string): RegistryMirrorsError {
  return new RegistryMirrorsError(
    [{ path: "liveConfig", message: `registries.yaml ${message}; fix it on the node first` }],
    `cannot configure ${product}`,
  );
}

/** Whether a map entry's value carries our marker (a comment first in the value: it survives every re-parse). */
function isOurs(value: unknown): boolean {
  return (
    typeof (value as { commentBefore?: unknown })?.commentBefore === "string" &&
    (value as { commentBefore: string }).commentBefore.includes(OWNED_MARKER)
  );
}

/**
 * Merges our entries into the live registries.yaml: our earlier entries (marked) are replaced, entries of others are
 * kept (one with the same key as ours is replaced, with a warning: the original comes back when registry-mirrors
 * is removed, from the backup of the whole file).
 */
function mergeRegistriesYaml(live: string, entries: RegistriesYamlEntries, product: string, warnings: string[]): Document {
  const doc = parseDocument(live, { uniqueKeys: true });
  if (doc.errors.length > 0) throw unusableLive(`is not valid YAML (${doc.errors[0].message.split("\n")[0]})`, product);
  if (doc.contents === null) doc.contents = doc.createNode({}) as unknown as typeof doc.contents;
  if (!(doc.contents instanceof YAMLMap)) throw unusableLive("must hold a map with mirrors and configs", product);
  for (const [section, wanted] of [
    ["mirrors", entries.mirrors],
    ["configs", entries.configs],
  ] as const) {
    let map = doc.get(section, true);
    if (map !== undefined && map !== null && !(map instanceof YAMLMap)) throw unusableLive(`has a ${section} that is not a map`, product);
    if (!(map instanceof YAMLMap)) {
      if (Object.keys(wanted).length === 0) continue;
      map = new YAMLMap();
      doc.set(section, map);
    }
    const items = (map as YAMLMap).items;
    for (let k = items.length - 1; k >= 0; k--) {
      const key = String((items[k].key as { value?: unknown })?.value ?? items[k].key);
      if (isOurs(items[k].value)) items.splice(k, 1);
      else if (key in wanted) {
        warnings.push(
          `registries.yaml had its own ${section}."${key}"; registry-mirrors replaces it (it comes back when registry-mirrors is removed)`,
        );
        items.splice(k, 1);
      }
    }
    for (const [key, value] of Object.entries(wanted)) {
      const node = doc.createNode(value);
      node.commentBefore = ` ${OWNED_MARKER}`;
      (map as YAMLMap).add(doc.createPair(key, node));
    }
  }
  return doc;
}

/** Renders the plan of a k3s or RKE2 node. Throws for what registries.yaml cannot express. */
export function renderRancher(
  mirrors: Mirror[],
  runtime: RuntimeInfo & { kind: "k3s" | "rke2" },
  liveConfig: string | undefined,
  paths: NodePaths,
): NodePlan {
  const product = runtime.kind === "k3s" ? "k3s" : "RKE2";
  const registriesPath = mainConfigPath(runtime.kind, paths) as string;
  const entries = registriesYamlEntries(mirrors, { certDir: rancherCertDir(registriesPath), product, version: runtime.version });
  const warnings: string[] = [];
  const files = sortFiles(entries.files);
  if (liveConfig === undefined) {
    warnings.push(`registries.yaml was not read, so it is left as it is: ${product} will not use these mirrors until it holds them`);
    return { files, mainConfig: undefined, action: runtimeAction(runtime.kind, false), warnings };
  }
  const merged = String(mergeRegistriesYaml(liveConfig, entries, product, warnings));
  // Unchanged entries leave the file alone, in the owner's formatting.
  const unchanged = merged === String(parseDocument(liveConfig)) || (liveConfig.trim() === "" && mirrors.length === 0);
  const mainConfig = unchanged ? undefined : { path: registriesPath, content: merged, ...(entries.secret ? { mode: 0o600 } : {}) };
  return { files, mainConfig, action: runtimeAction(runtime.kind, mainConfig !== undefined), warnings };
}
