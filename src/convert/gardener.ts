/**
 * Gardener's registry-mirror extension: `MirrorConfig` (mirror.extensions.gardener.cloud/v1alpha1), the
 * `providerConfig` of a Shoot's `registry-mirror` extension.
 *
 * Source: gardener/gardener-extension-registry-cache, pkg/apis/mirror/v1alpha1/types.go (MirrorConfig,
 * MirrorConfiguration { upstream, hosts }, MirrorHost { host, capabilities, caBundleSecretReferenceName,
 * overridePath }), defaults.go (capabilities default to ["pull"]), validation/validation.go (at least one mirror and
 * host, upstream `<host>[:<port>]`, host an http(s) URL, no duplicate upstream or host, capabilities only pull and
 * resolve, no duplicates) and docs/usage/registry-mirror/configuration.md (the Shoot example, our first golden case).
 * containerd's `override_path` rule (hosts.md) decides what a host path means. Gardener always falls back to the
 * upstream, has no credentials, client certificates or headers, and takes a CA only as a Secret reference.
 */
import { RegistryMirrorsError, type Capability, type Mirror, type Problem } from "../model/types";
import { canonicalUpstream, upstreamProblem } from "../model/validate";
import {
  MirrorCollector,
  fieldPath,
  finishImport,
  fromContainerdHost,
  isPlainObject,
  noteUnknownFields,
  optionalBool,
  optionalList,
  optionalString,
  parseYamlDocuments,
  specProblems,
  toContainerdHost,
  toYaml,
  wrongType,
} from "./common";
import type { ConversionNote, ExportResult, ImportResult } from "./types";

/** `apiVersion` of a MirrorConfig. */
export const GARDENER_MIRROR_API_VERSION = "mirror.extensions.gardener.cloud/v1alpha1";

const CAPABILITIES: readonly string[] = ["pull", "resolve"];

/** Finds the MirrorConfig in a document: itself, or a Shoot's `registry-mirror` extension providerConfig. */
function findMirrorConfig(docs: unknown[]): { config: Record<string, unknown>; path: string } {
  for (const doc of docs) {
    if (!isPlainObject(doc)) continue;
    if (doc.kind === "MirrorConfig" || (doc.kind === undefined && Array.isArray(doc.mirrors))) return { config: doc, path: "" };
    const spec = isPlainObject(doc.spec) ? doc.spec : undefined;
    const extensions = Array.isArray(spec?.extensions) ? spec.extensions : [];
    const index = extensions.findIndex((ext) => isPlainObject(ext) && ext.type === "registry-mirror" && isPlainObject(ext.providerConfig));
    if (index >= 0)
      return {
        config: (extensions[index] as Record<string, unknown>).providerConfig as Record<string, unknown>,
        path: `spec.extensions[${index}].providerConfig`,
      };
  }
  throw new RegistryMirrorsError(
    [
      {
        path: "(document)",
        message: "holds no MirrorConfig (kind: MirrorConfig) and no Shoot with a registry-mirror extension; pass the providerConfig or the Shoot",
      },
    ],
    "cannot import Gardener MirrorConfig",
  );
}

/**
 * Problems of a MirrorConfig by Gardener's own validation rules (validation.go), with Gardener's field paths.
 *
 * @param config - A MirrorConfig as a plain object.
 * @param base - Path prefix of the MirrorConfig in its document.
 */
export function gardenerProblems(config: Record<string, unknown>, base = ""): Problem[] {
  const out: Problem[] = [];
  const mirrorsPath = fieldPath(base, "mirrors");
  const mirrors = Array.isArray(config.mirrors) ? config.mirrors : [];
  if (mirrors.length === 0) out.push({ path: mirrorsPath, message: "at least one mirror must be provided" });
  const upstreams = new Set<string>();
  mirrors.forEach((mirror: unknown, i) => {
    const at = `${mirrorsPath}[${i}]`;
    if (!isPlainObject(mirror)) {
      out.push({ path: at, message: "must be a map with upstream and hosts" });
      return;
    }
    const upstream = mirror.upstream;
    if (typeof upstream !== "string" || upstream === "*" || upstreamProblem(upstream)) {
      out.push({ path: `${at}.upstream`, message: "must be a DNS subdomain (RFC 1123) with an optional port, without a scheme" });
    } else if (upstreams.has(upstream)) {
      out.push({ path: `${at}.upstream`, message: `duplicate upstream ${upstream}` });
    } else upstreams.add(upstream);
    const hosts = Array.isArray(mirror.hosts) ? mirror.hosts : [];
    if (hosts.length === 0) out.push({ path: `${at}.hosts`, message: "at least one host must be provided" });
    const seen = new Set<string>();
    hosts.forEach((host: unknown, j) => {
      const hostAt = `${at}.hosts[${j}]`;
      const url = isPlainObject(host) ? host.host : undefined;
      if (typeof url !== "string" || !/^https?:\/\/[^/?#]+/.test(url))
        out.push({ path: `${hostAt}.host`, message: "url must start with 'http://' or 'https://' scheme" });
      else if (seen.has(url)) out.push({ path: `${hostAt}.host`, message: `duplicate host ${url}` });
      else seen.add(url);
      const caps = isPlainObject(host) && Array.isArray(host.capabilities) ? host.capabilities : [];
      const seenCaps = new Set<unknown>();
      caps.forEach((cap: unknown, k) => {
        if (typeof cap !== "string" || !CAPABILITIES.includes(cap))
          out.push({ path: `${hostAt}.capabilities`, message: `unsupported value ${JSON.stringify(cap)}: supported values are "pull", "resolve"` });
        if (seenCaps.has(cap)) out.push({ path: `${hostAt}.capabilities[${k}]`, message: `duplicate capability ${String(cap)}` });
        seenCaps.add(cap);
      });
    });
  });
  return out;
}

/**
 * Imports a Gardener MirrorConfig (or a Shoot holding one) into our spec.
 *
 * @param text - YAML or JSON text of the MirrorConfig, or of a Shoot with a `registry-mirror` extension.
 * @returns The mirrors, and notes for every field our spec has no place for (e.g. `caBundleSecretReferenceName`).
 * @throws RegistryMirrorsError when the text is not a valid MirrorConfig by Gardener's rules, or the result is invalid.
 */
export function importGardener(text: string): ImportResult {
  const { config, path: base } = findMirrorConfig(parseYamlDocuments(text, "MirrorConfig"));
  const problems = gardenerProblems(config, base);
  if (problems.length > 0) throw new RegistryMirrorsError(problems, "not a valid Gardener MirrorConfig");
  const notes: ConversionNote[] = [];
  noteUnknownFields(config, ["apiVersion", "kind", "mirrors"], base, notes, "MirrorConfig");
  if (config.apiVersion !== undefined && config.apiVersion !== GARDENER_MIRROR_API_VERSION) {
    notes.push({
      path: fieldPath(base, "apiVersion"),
      message: `is ${String(config.apiVersion)}; this converter reads ${GARDENER_MIRROR_API_VERSION}`,
    });
  }
  const collector = new MirrorCollector();
  optionalList(config, "mirrors", base).forEach((raw, i) => {
    const at = `${fieldPath(base, "mirrors")}[${i}]`;
    const mirror = raw as Record<string, unknown>;
    noteUnknownFields(mirror, ["upstream", "hosts"], at, notes, "MirrorConfiguration");
    const draft = collector.mirror(mirror.upstream as string);
    optionalList(mirror, "hosts", at).forEach((rawHost, j) => {
      const hostAt = `${at}.hosts[${j}]`;
      if (!isPlainObject(rawHost)) wrongType(hostAt, "a map with host", rawHost);
      noteUnknownFields(rawHost, ["host", "capabilities", "caBundleSecretReferenceName", "overridePath"], hostAt, notes, "MirrorHost");
      const overridePath = optionalBool(rawHost, "overridePath", hostAt) ?? false;
      const caps = optionalList(rawHost, "capabilities", hostAt) as Capability[];
      const secret = optionalString(rawHost, "caBundleSecretReferenceName", hostAt);
      if (secret !== undefined) {
        notes.push({
          path: `${hostAt}.caBundleSecretReferenceName`,
          message: `refers to the Secret resource ${secret}; put the PEM of its bundle.crt into mirrors[…].endpoints[…].caCert`,
        });
      }
      // Gardener's default is ["pull"], ours is pull and resolve: the capabilities are always written out.
      const capabilities: Capability[] = caps.length === 0 ? ["pull"] : (["pull", "resolve"] as const).filter((c) => caps.includes(c));
      const url = fromContainerdHost(rawHost.host as string, overridePath);
      draft.endpoints.push(capabilities.length === 2 ? { url } : { url, capabilities });
    });
  });
  return finishImport(collector.mirrors(), notes, "Gardener MirrorConfig");
}

/**
 * Exports our spec as a Gardener MirrorConfig, checked by Gardener's validation rules.
 *
 * @param mirrors - Our spec.
 * @returns The MirrorConfig document and its YAML text (for a Shoot's `spec.extensions[].providerConfig`).
 * @throws RegistryMirrorsError naming each of our fields that a MirrorConfig cannot express.
 */
export function exportGardener(mirrors: readonly Mirror[]): ExportResult {
  const problems = specProblems(mirrors);
  if (problems.length > 0) throw new RegistryMirrorsError(problems);
  const out: Problem[] = [];
  const gardenerMirrors = mirrors.map((mirror, i) => {
    const at = `mirrors[${i}]`;
    if (mirror.upstream === "*")
      out.push({ path: `${at}.upstream`, message: 'Gardener has no catch-all upstream; list each registry instead of "*"' });
    if (mirror.fallback === false) {
      out.push({
        path: `${at}.fallback`,
        message: "Gardener always falls back to the upstream; remove fallback: false, or configure these nodes another way",
      });
    }
    const hosts = mirror.endpoints.map((endpoint, j) => {
      const epAt = `${at}.endpoints[${j}]`;
      const tls: [keyof typeof endpoint, string][] = [
        [
          "caCert",
          "takes a CA only as a Secret reference (caBundleSecretReferenceName, an immutable Secret with key bundle.crt); create that Secret and set the reference after export, and remove caCert here",
        ],
        ["clientCert", "has no client certificates; remove clientCert and clientKey"],
        ["clientKey", "has no client certificates; remove clientCert and clientKey"],
        ["skipVerify", "cannot skip TLS verification; give the mirror a trusted certificate and remove skipVerify"],
        ["auth", "has no mirror credentials; use a mirror that allows anonymous pulls, or remove auth"],
        ["headers", "cannot send headers; remove them"],
      ];
      for (const [field, message] of tls) {
        if (endpoint[field] !== undefined && !(field === "skipVerify" && endpoint.skipVerify === false))
          out.push({ path: `${epAt}.${field}`, message: `Gardener ${message}` });
      }
      const caps = mirror.digestOnly ? ["pull"] : (endpoint.capabilities ?? ["pull", "resolve"]);
      if (caps.includes("push")) out.push({ path: `${epAt}.capabilities`, message: 'Gardener supports only "pull" and "resolve"; remove "push"' });
      const { url, overridePath } = toContainerdHost(endpoint.url);
      return {
        host: url,
        capabilities: (["pull", "resolve"] as const).filter((c) => caps.includes(c)),
        ...(overridePath ? { overridePath: true } : {}),
      };
    });
    return { upstream: mirror.upstream === "*" ? "*" : canonicalUpstream(mirror.upstream), hosts };
  });
  const document = { apiVersion: GARDENER_MIRROR_API_VERSION, kind: "MirrorConfig", mirrors: gardenerMirrors };
  // Our rules are stricter than Gardener's, so this only catches a converter bug; it is kept as the format's proof.
  if (out.length === 0)
    for (const p of gardenerProblems(document)) out.push({ path: p.path, message: `Gardener would refuse the result: ${p.message}` });
  if (out.length > 0) throw new RegistryMirrorsError(out, "cannot export to Gardener MirrorConfig");
  return { document, text: toYaml(document), files: [] };
}
