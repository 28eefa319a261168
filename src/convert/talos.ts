/**
 * Talos Linux `machine.registries` (machine config v1alpha1): `mirrors.<registry>` { endpoints, overridePath,
 * skipFallback } and `config.<endpoint host>` { tls { clientIdentity { crt, key }, ca, insecureSkipVerify },
 * auth { username, password, auth, identityToken } }.
 *
 * Source: siderolabs/talos pkg/machinery/config/types/v1alpha1 (RegistryMirrorConfig with MirrorEndpoints,
 * MirrorOverridePath, MirrorSkipFallback; RegistryConfig; RegistryTLSConfig, whose `ca` and `clientIdentity` are
 * base64-encoded PEM; RegistryAuthConfig) and the Talos docs "Pull Through Image Cache" and RegistryMirrorConfig
 * (`name` may be "*"; overridePath: "use endpoint path as supplied, without adding /v2/"). Talos writes containerd
 * hosts.toml files from this, so a path means what it means there. It has no per-endpoint capabilities and no
 * headers; `config` is keyed by endpoint host, so two endpoints on one host share their TLS and credentials.
 */
import { RegistryMirrorsError, type Mirror, type Problem } from "../model/types";
import { canonicalUpstream } from "../model/validate";
import {
  MirrorCollector,
  decodeBasicAuth,
  endpointHost,
  fieldPath,
  finishImport,
  fromContainerdHost,
  hasDefaultCapabilities,
  isPlainObject,
  noteUnknownFields,
  optionalBool,
  optionalList,
  optionalMap,
  optionalString,
  parseYamlDocuments,
  sortedKeys,
  specProblems,
  toContainerdHost,
  toYaml,
  withScheme,
  wrongType,
} from "./common";
import type { ConversionNote, ExportResult, ImportResult } from "./types";

/** Finds `machine.registries` in a machine config or patch (or a bare `{ mirrors, config }`). */
function findRegistries(docs: unknown[]): { registries: Record<string, unknown>; path: string; notes: ConversionNote[] } {
  const notes: ConversionNote[] = [];
  let found: { registries: Record<string, unknown>; path: string } | undefined;
  docs.forEach((doc, i) => {
    if (!isPlainObject(doc)) return;
    const machine = isPlainObject(doc.machine) ? doc.machine : undefined;
    if (!found && machine && isPlainObject(machine.registries)) found = { registries: machine.registries, path: "machine.registries" };
    else if (!found && !machine && (isPlainObject(doc.mirrors) || isPlainObject(doc.config))) found = { registries: doc, path: "" };
    else if (typeof doc.kind === "string" && doc.kind.startsWith("Registry")) {
      notes.push({
        path: `document ${i + 1} (kind: ${doc.kind})`,
        message: "is a Talos 1.12+ registry document, which this converter does not read; use machine.registries",
      });
    }
  });
  if (!found) {
    throw new RegistryMirrorsError(
      [{ path: "machine.registries", message: "is missing; pass a Talos machine config or patch with machine.registries.mirrors" }],
      "cannot import Talos machine config",
    );
  }
  return { ...found, notes };
}

/** PEM text from Talos' base64 field, or a note when it is not base64 of PEM. */
function decodePem(value: unknown, path: string, notes: ConversionNote[]): string | undefined {
  if (typeof value !== "string") return undefined;
  const pem = Buffer.from(value, "base64").toString("utf8");
  if (!pem.includes("-----BEGIN")) {
    notes.push({ path, message: "is not base64 of a PEM block (Talos expects base64-encoded PEM); it was not imported" });
    return undefined;
  }
  return pem;
}

/**
 * Imports Talos `machine.registries` into our spec.
 *
 * @param text - YAML of a machine config, a config patch, or the `registries` object itself.
 * @returns The mirrors, and notes for fields without an equivalent (identity tokens, config for non-mirror hosts…).
 * @throws RegistryMirrorsError for a malformed document or an invalid result.
 */
export function importTalos(text: string): ImportResult {
  const { registries, path: base, notes } = findRegistries(parseYamlDocuments(text, "Talos machine config"));
  noteUnknownFields(registries, ["mirrors", "config"], base, notes, "machine.registries");
  const mirrorsPath = fieldPath(base, "mirrors");
  const configPath = fieldPath(base, "config");
  const configs = optionalMap(registries, "config", base);
  const usedConfigs = new Set<string>();
  const collector = new MirrorCollector();

  for (const [name, raw] of Object.entries(optionalMap(registries, "mirrors", base))) {
    const at = fieldPath(mirrorsPath, name);
    if (!isPlainObject(raw)) wrongType(at, "a map with endpoints", raw);
    noteUnknownFields(raw, ["endpoints", "overridePath", "skipFallback"], at, notes, "RegistryMirrorConfig");
    const overridePath = optionalBool(raw, "overridePath", at) ?? false;
    const draft = collector.mirror(name);
    if (optionalBool(raw, "skipFallback", at) === true) draft.fallback = false;
    optionalList(raw, "endpoints", at).forEach((value, j) => {
      if (typeof value !== "string") wrongType(`${at}.endpoints[${j}]`, "a URL string", value);
      const url = fromContainerdHost(withScheme(value), overridePath);
      const host = endpointHost(url);
      const endpoint = draft.endpoints[draft.endpoints.push({ url }) - 1];
      const config = configs[host];
      if (!isPlainObject(config)) return;
      usedConfigs.add(host);
      const cAt = fieldPath(configPath, host);
      noteUnknownFields(config, ["tls", "auth"], cAt, notes, "RegistryConfig");
      const tls = optionalMap(config, "tls", cAt);
      noteUnknownFields(tls, ["clientIdentity", "ca", "insecureSkipVerify"], `${cAt}.tls`, notes, "RegistryTLSConfig");
      endpoint.caCert = decodePem(tls.ca, `${cAt}.tls.ca`, notes);
      const identity = optionalMap(tls, "clientIdentity", `${cAt}.tls`);
      endpoint.clientCert = decodePem(identity.crt, `${cAt}.tls.clientIdentity.crt`, notes);
      endpoint.clientKey = decodePem(identity.key, `${cAt}.tls.clientIdentity.key`, notes);
      if (optionalBool(tls, "insecureSkipVerify", `${cAt}.tls`) === true) endpoint.skipVerify = true;
      const auth = optionalMap(config, "auth", cAt);
      noteUnknownFields(auth, ["username", "password", "auth", "identityToken"], `${cAt}.auth`, notes, "RegistryAuthConfig");
      const username = optionalString(auth, "username", `${cAt}.auth`);
      const password = optionalString(auth, "password", `${cAt}.auth`);
      const encoded = optionalString(auth, "auth", `${cAt}.auth`);
      if (username !== undefined && password !== undefined) endpoint.auth = { username, password };
      else if (encoded !== undefined) {
        endpoint.auth = decodeBasicAuth(encoded);
        if (!endpoint.auth) notes.push({ path: `${cAt}.auth.auth`, message: "is not base64 of username:password; it was not imported" });
      }
      if (auth.identityToken !== undefined) {
        notes.push({
          path: `${cAt}.auth.identityToken`,
          message: "is an identity token, which our spec cannot send; use auth { username, password }",
        });
      }
    });
  }
  for (const host of Object.keys(configs)) {
    if (!usedConfigs.has(host)) {
      notes.push({
        path: fieldPath(configPath, host),
        message:
          "configures a host that is no mirror endpoint (pulls from the registry itself); our spec configures mirrors only, so it was not imported",
      });
    }
  }
  return finishImport(collector.mirrors(), notes, "Talos machine.registries");
}

/** The `config` entry of one endpoint, or `undefined` when it has no TLS or credentials. */
function endpointConfig(endpoint: Mirror["endpoints"][number]): Record<string, unknown> | undefined {
  const tls: Record<string, unknown> = {};
  if (endpoint.clientCert && endpoint.clientKey) {
    tls.clientIdentity = { crt: Buffer.from(endpoint.clientCert).toString("base64"), key: Buffer.from(endpoint.clientKey).toString("base64") };
  }
  if (endpoint.caCert) tls.ca = Buffer.from(endpoint.caCert).toString("base64");
  if (endpoint.skipVerify) tls.insecureSkipVerify = true;
  const config: Record<string, unknown> = {};
  if (Object.keys(tls).length > 0) config.tls = tls;
  if (endpoint.auth) config.auth = { username: endpoint.auth.username, password: endpoint.auth.password };
  return Object.keys(config).length > 0 ? config : undefined;
}

/**
 * Exports our spec as a Talos machine-config patch (`machine.registries`).
 *
 * @param mirrors - Our spec.
 * @returns The patch document and its YAML (for `talosctl patch mc --patch @file`); it holds secrets when the spec
 *   has credentials or client keys.
 * @throws RegistryMirrorsError naming each of our fields Talos cannot express.
 */
export function exportTalos(mirrors: readonly Mirror[]): ExportResult {
  const problems = specProblems(mirrors);
  if (problems.length > 0) throw new RegistryMirrorsError(problems);
  const out: Problem[] = [];
  const talosMirrors: Record<string, unknown> = {};
  const configs: Record<string, { value: Record<string, unknown>; from: string }> = {};
  mirrors.forEach((mirror, i) => {
    const at = `mirrors[${i}]`;
    if (mirror.digestOnly) out.push({ path: `${at}.digestOnly`, message: "Talos cannot restrict mirrors to pulls by digest; remove digestOnly" });
    const hosts = mirror.endpoints.map((endpoint) => toContainerdHost(endpoint.url));
    // overridePath is one flag per registry: with it, a URL without a path needs its API root written out.
    const overridePath = hosts.some((h) => h.overridePath);
    const endpoints = hosts.map((h) => (overridePath && !h.overridePath ? `${h.url}/v2` : h.url));
    mirror.endpoints.forEach((endpoint, j) => {
      const epAt = `${at}.endpoints[${j}]`;
      if (!mirror.digestOnly && !hasDefaultCapabilities(mirror, endpoint)) {
        out.push({ path: `${epAt}.capabilities`, message: "Talos always uses a mirror for pull and resolve; remove capabilities" });
      }
      if (endpoint.headers) out.push({ path: `${epAt}.headers`, message: "Talos cannot send headers to a mirror; remove them" });
      const config = endpointConfig(endpoint);
      const host = endpointHost(endpoint.url);
      const earlier = configs[host];
      if (earlier && JSON.stringify(earlier.value) !== JSON.stringify(config ?? null)) {
        out.push({
          path: epAt,
          message: `Talos keys TLS and credentials by host, and ${earlier.from} on the same host ${host} has different ones; make them equal`,
        });
      } else if (!earlier) configs[host] = { value: config ?? (null as unknown as Record<string, unknown>), from: epAt };
    });
    const name = mirror.upstream === "*" ? "*" : canonicalUpstream(mirror.upstream);
    talosMirrors[name] = { endpoints, ...(overridePath ? { overridePath: true } : {}), ...(mirror.fallback === false ? { skipFallback: true } : {}) };
  });
  if (out.length > 0) throw new RegistryMirrorsError(out, "cannot export to Talos machine.registries");
  const config = Object.fromEntries(
    sortedKeys(configs)
      .filter((h) => configs[h].value !== null)
      .map((h) => [h, configs[h].value]),
  );
  const registries: Record<string, unknown> = { mirrors: talosMirrors, ...(Object.keys(config).length > 0 ? { config } : {}) };
  const document = { machine: { registries } };
  return { document, text: toYaml(document), files: [] };
}
