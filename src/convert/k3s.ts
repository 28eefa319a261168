/**
 * k3s / RKE2 `registries.yaml` (`/etc/rancher/k3s/registries.yaml`, `/etc/rancher/rke2/registries.yaml`):
 * `mirrors.<registry>` { endpoint: [urls], rewrite: { regex: replacement } } and `configs.<host>`
 * { auth { username, password, auth, identity_token }, tls { ca_file, cert_file, key_file, insecure_skip_verify } }.
 *
 * Source: docs.k3s.io "Private Registry Configuration" (k3s-io/docs docs/installation/private-registry.md: the file
 * layout, `"*"`, rewrites since v1.21, the default endpoint always tried last unless the node runs with
 * `--disable-default-registry-endpoint`, which applies to every registry in the file), and k3s
 * pkg/agent/containerd/config.go `normalizeEndpointAddress` (no scheme: https, or http for localhost on another
 * port; a path other than "", "/" or "/v2" is used as-is with override_path) — the same path rule as our spec.
 * TLS material is given as file paths, so an export returns the certificate files beside the document.
 */
import { RegistryMirrorsError, type Mirror } from "../model/types";
import { registriesYamlEntries } from "../render/k3s";
import {
  MirrorCollector,
  decodeBasicAuth,
  endpointHost,
  fieldPath,
  finishImport,
  isPlainObject,
  noteUnknownFields,
  optionalBool,
  optionalList,
  optionalMap,
  optionalString,
  parseYamlDocuments,
  readReferenced,
  specProblems,
  toYaml,
  wrongType,
  type EndpointDraft,
} from "./common";
import type { ConversionNote, ExportResult, ImportOptions, ImportResult } from "./types";

/** Options of the k3s importer. */
export interface K3sImportOptions extends ImportOptions {
  /** The node runs with `--disable-default-registry-endpoint`: every mirrored registry gets `fallback: false`. */
  readonly defaultEndpointDisabled?: boolean;
}

/** Options of the k3s exporter. */
export interface K3sExportOptions {
  /** The nodes run with `--disable-default-registry-endpoint` (k3s v1.26.13+, v1.27.10+, v1.28.6+, v1.29.1+). */
  readonly defaultEndpointDisabled?: boolean;
  /** Where the certificate files go. Default `/etc/rancher/k3s/registry-mirrors`. */
  readonly certDir?: string;
}

/** k3s' scheme rule for an endpoint without one: http for localhost on a port other than 443, else https. */
function k3sEndpointUrl(raw: string): string {
  if (raw.includes("://")) return raw;
  const m = /^(localhost|127\.0\.0\.1|\[::1\]|::1)(?::(\d+))?(?:\/|$)/.exec(raw);
  return m && m[2] && m[2] !== "443" ? `http://${raw}` : `https://${raw}`;
}

/** The upstream's own endpoint as k3s compares it (`https://<registry>/v2`), for dropping a mirror equal to it. */
function isDefaultEndpoint(url: string, upstream: string): boolean {
  const normalized = url.replace(/\/+$/, "").replace(/\/v2$/, "");
  const own = upstream === "docker.io" ? ["https://registry-1.docker.io", "https://index.docker.io", "https://docker.io"] : [`https://${upstream}`];
  return own.includes(normalized);
}

/** A single "everything under a namespace" rewrite (`^(.*)` → `ns/$1`) becomes a path; anything else is a note. */
function rewritePrefix(rewrite: Record<string, unknown>, at: string, notes: ConversionNote[]): string | undefined {
  const entries = Object.entries(rewrite);
  if (entries.length === 1) {
    const [pattern, replacement] = entries[0];
    const m = typeof replacement === "string" ? /^([A-Za-z0-9._/-]+)\/\$(?:1|\{1\})$/.exec(replacement) : null;
    if ((pattern === "^(.*)" || pattern === "^(.*)$" || pattern === "(.*)") && m) return m[1].replace(/^\/+/, "");
  }
  for (const [pattern] of entries) {
    notes.push({
      path: fieldPath(`${at}.rewrite`, pattern),
      message: 'is a rewrite our spec cannot express (only a whole-registry namespace prefix such as "^(.*)": "ns/$1" is); it was not imported',
    });
  }
  return undefined;
}

/** Applies a namespace prefix to an endpoint URL: its API root (`/v2` when it has no path) gains `/<prefix>`. */
function withNamespace(url: string, prefix: string): string {
  const m = /^([a-z]+:\/\/[^/?#]*)([^?#]*)$/.exec(url);
  if (!m) return url;
  const path = m[2].replace(/\/+$/, "");
  const root = path === "" || path === "/v2" ? "/v2" : path;
  return `${m[1]}${root}/${prefix}`;
}

/** Copies `configs.<host>` into an endpoint: credentials, and TLS files read through `options.readFile`. */
function applyConfig(endpoint: EndpointDraft, config: Record<string, unknown>, at: string, options: ImportOptions, notes: ConversionNote[]): void {
  noteUnknownFields(config, ["auth", "tls"], at, notes, "registries.yaml config");
  const auth = optionalMap(config, "auth", at);
  noteUnknownFields(auth, ["username", "password", "auth", "identity_token", "token"], `${at}.auth`, notes, "registries.yaml auth");
  const username = optionalString(auth, "username", `${at}.auth`);
  const password = optionalString(auth, "password", `${at}.auth`);
  const encoded = optionalString(auth, "auth", `${at}.auth`);
  if (username !== undefined && password !== undefined) endpoint.auth = { username, password };
  else if (encoded !== undefined) {
    endpoint.auth = decodeBasicAuth(encoded);
    if (!endpoint.auth) notes.push({ path: `${at}.auth.auth`, message: "is not base64 of username:password; it was not imported" });
  }
  for (const key of ["identity_token", "token"]) {
    if (auth[key] !== undefined)
      notes.push({ path: `${at}.auth.${key}`, message: "is a token, which our spec cannot send; use auth { username, password }" });
  }
  const tls = optionalMap(config, "tls", at);
  noteUnknownFields(tls, ["ca_file", "cert_file", "key_file", "insecure_skip_verify"], `${at}.tls`, notes, "registries.yaml tls");
  const files: [string, "caCert" | "clientCert" | "clientKey", string][] = [
    ["ca_file", "caCert", "CA certificate (caCert)"],
    ["cert_file", "clientCert", "client certificate (clientCert)"],
    ["key_file", "clientKey", "client key (clientKey)"],
  ];
  for (const [key, field, what] of files) {
    const file = optionalString(tls, key, `${at}.tls`);
    if (file) endpoint[field] = readReferenced(options, file, `${at}.tls.${key}`, what, notes);
  }
  if (optionalBool(tls, "insecure_skip_verify", `${at}.tls`) === true) endpoint.skipVerify = true;
}

/**
 * Imports a k3s/RKE2 registries.yaml into our spec.
 *
 * @param text - The YAML text of registries.yaml.
 * @param options - How to read the files `configs.*.tls` names, and whether the node disables the default endpoint.
 * @returns The mirrors, and notes for what our spec cannot hold (rewrites other than a namespace prefix, tokens,
 *   configs of hosts that are no mirror endpoint, unreadable files).
 * @throws RegistryMirrorsError for a malformed file or an invalid result.
 */
export function importK3s(text: string, options: K3sImportOptions = {}): ImportResult {
  const docs = parseYamlDocuments(text, "registries.yaml");
  const doc = docs[0] ?? {};
  if (!isPlainObject(doc)) wrongType("(document)", "a map with mirrors and configs", doc);
  const notes: ConversionNote[] = [];
  noteUnknownFields(doc, ["mirrors", "configs"], "", notes, "registries.yaml");
  const configs = optionalMap(doc, "configs", "");
  const usedConfigs = new Set<string>();
  const collector = new MirrorCollector();

  for (const [name, raw] of Object.entries(optionalMap(doc, "mirrors", ""))) {
    const at = fieldPath("mirrors", name);
    if (!isPlainObject(raw)) wrongType(at, "a map with endpoint", raw);
    noteUnknownFields(raw, ["endpoint", "rewrite"], at, notes, "registries.yaml mirror");
    const draft = collector.mirror(name);
    if (options.defaultEndpointDisabled) draft.fallback = false;
    const prefix = rewritePrefix(optionalMap(raw, "rewrite", at), at, notes);
    optionalList(raw, "endpoint", at).forEach((value, j) => {
      if (typeof value !== "string") wrongType(`${at}.endpoint[${j}]`, "a URL string", value);
      let url = k3sEndpointUrl(value);
      if (name !== "*" && isDefaultEndpoint(url, draft.upstream)) {
        notes.push({
          path: `${at}.endpoint[${j}]`,
          message: "is the registry's own endpoint, which k3s tries last anyway (fallback); it is not a mirror",
        });
        return;
      }
      if (prefix !== undefined) url = withNamespace(url, prefix);
      const endpoint: EndpointDraft = { url };
      const host = endpointHost(url);
      const key = host in configs ? host : undefined;
      if (key !== undefined && isPlainObject(configs[key])) {
        usedConfigs.add(key);
        applyConfig(endpoint, configs[key], fieldPath("configs", key), options, notes);
      }
      draft.endpoints.push(endpoint);
    });
    if (draft.endpoints.length === 0) notes.push({ path: at, message: "has no mirror endpoint left, so it was not imported" });
  }
  for (const host of Object.keys(configs)) {
    if (!usedConfigs.has(host)) {
      notes.push({
        path: fieldPath("configs", host),
        message:
          "configures a registry that is no mirror endpoint (pulls from it directly); our spec configures mirrors only, so it was not imported",
      });
    }
  }
  return finishImport(collector.mirrors(), notes, "registries.yaml");
}

/**
 * Exports our spec as a k3s/RKE2 registries.yaml, plus the certificate files its `configs.*.tls` refer to.
 *
 * @param mirrors - Our spec.
 * @param options - Whether the nodes disable the default endpoint, and where certificates go.
 * @returns registries.yaml (holds credentials when the spec has any: write it with mode 0600) and its files.
 * @throws RegistryMirrorsError naming each of our fields registries.yaml cannot express.
 */
export function exportK3s(mirrors: readonly Mirror[], options: K3sExportOptions = {}): ExportResult {
  const problems = specProblems(mirrors);
  if (problems.length > 0) throw new RegistryMirrorsError(problems);
  const entries = registriesYamlEntries(mirrors, {
    certDir: options.certDir ?? "/etc/rancher/k3s/registry-mirrors",
    defaultEndpointDisabled: options.defaultEndpointDisabled,
    product: "k3s",
    fallbackHint: "run k3s with --disable-default-registry-endpoint and export with that option",
    errorSummary: "cannot export to k3s registries.yaml",
  });
  const document: Record<string, unknown> = {
    mirrors: entries.mirrors,
    ...(Object.keys(entries.configs).length > 0 ? { configs: entries.configs } : {}),
  };
  return { document, text: toYaml(document), files: entries.files.map(({ path, content, mode }) => ({ path, content, mode })) };
}
