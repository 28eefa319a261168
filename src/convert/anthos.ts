/**
 * Anthos clusters on bare metal / Google Distributed Cloud (software only): `registryMirrors` in the cluster
 * configuration file — a list of { endpoint, caCertPath, pullCredentialConfigPath, hosts }.
 *
 * Source: "Cluster configuration field reference" (docs.cloud.google.com/kubernetes-engine/distributed-cloud/
 * bare-metal/docs/reference/cluster-config-ref, Registry mirror section: `endpoint` is REGISTRY_IP:PORT or
 * REGISTRY_IP:PORT/v2/NAMESPACE, "/v2 is required when specifying a namespace"; `caCertPath` the CA file;
 * `pullCredentialConfigPath` a Docker CLI config.json; `hosts` the registries mirrored) and "Use a registry mirror
 * for container images" (a mirror of gcr.io when no hosts are listed; the upstream is used when the image is not in
 * the mirror). bmctl accepts the list at the top level of the file or in the Cluster's spec.
 */
import { RegistryMirrorsError } from "../model/types";
import {
  MirrorCollector,
  dockerConfigAuth,
  endpointHost,
  finishImport,
  isPlainObject,
  noteUnknownFields,
  optionalList,
  optionalString,
  parseYamlDocuments,
  readReferenced,
  withScheme,
  wrongType,
  type EndpointDraft,
} from "./common";
import type { ConversionNote, ImportOptions, ImportResult } from "./types";

/** The registry Anthos mirrors when an entry lists no `hosts`. */
export const ANTHOS_DEFAULT_HOST = "gcr.io";

/** Finds `registryMirrors`: at the top of a document (bmctl's credentials part) or in a Cluster's spec. */
function findRegistryMirrors(docs: unknown[]): { list: unknown[]; path: string } {
  for (const doc of docs) {
    if (!isPlainObject(doc)) continue;
    if (Array.isArray(doc.registryMirrors)) return { list: doc.registryMirrors, path: "registryMirrors" };
    if (isPlainObject(doc.spec) && Array.isArray(doc.spec.registryMirrors)) return { list: doc.spec.registryMirrors, path: "spec.registryMirrors" };
  }
  throw new RegistryMirrorsError(
    [{ path: "registryMirrors", message: "is missing; pass the cluster configuration file (or a document) that lists registryMirrors" }],
    "cannot import Anthos registryMirrors",
  );
}

/**
 * Imports Anthos `registryMirrors` into our spec. One entry mirroring several hosts becomes an endpoint of each of
 * those upstreams; entries for one host keep their order.
 *
 * @param text - YAML of the cluster configuration file (several documents are fine).
 * @param options - How to read `caCertPath` and `pullCredentialConfigPath`; without it, both become notes.
 * @returns The mirrors and notes.
 * @throws RegistryMirrorsError for a malformed file or an invalid result.
 */
export function importAnthos(text: string, options: ImportOptions = {}): ImportResult {
  const { list, path: base } = findRegistryMirrors(parseYamlDocuments(text, "cluster configuration"));
  const notes: ConversionNote[] = [];
  const collector = new MirrorCollector();
  list.forEach((raw, i) => {
    const at = `${base}[${i}]`;
    if (!isPlainObject(raw)) wrongType(at, "a map with endpoint", raw);
    noteUnknownFields(raw, ["endpoint", "caCertPath", "pullCredentialConfigPath", "hosts"], at, notes, "registryMirrors");
    const endpointText = optionalString(raw, "endpoint", at);
    if (endpointText === undefined) wrongType(`${at}.endpoint`, "the mirror's address, e.g. https://172.18.0.20:5000", undefined);
    if (!/^[a-z]+:\/\//i.test(endpointText)) notes.push({ path: `${at}.endpoint`, message: "has no scheme; imported as https://" });
    const endpoint: EndpointDraft = { url: withScheme(endpointText) };
    const caPath = optionalString(raw, "caCertPath", at);
    if (caPath) endpoint.caCert = readReferenced(options, caPath, `${at}.caCertPath`, "CA certificate (caCert)", notes);
    const credentialsPath = optionalString(raw, "pullCredentialConfigPath", at);
    if (credentialsPath) {
      const config = readReferenced(options, credentialsPath, `${at}.pullCredentialConfigPath`, "credentials (auth)", notes);
      if (config !== undefined) {
        const auth = dockerConfigAuth(config, endpointHost(endpoint.url));
        if (typeof auth === "string") notes.push({ path: `${at}.pullCredentialConfigPath`, message: `${credentialsPath} ${auth}` });
        else endpoint.auth = auth;
      }
    }
    const hosts = optionalList(raw, "hosts", at);
    if (hosts.length === 0)
      notes.push({
        path: `${at}.hosts`,
        message: `is not set; Anthos then mirrors ${ANTHOS_DEFAULT_HOST}, so the endpoint mirrors ${ANTHOS_DEFAULT_HOST}`,
      });
    for (const [j, host] of (hosts.length > 0 ? hosts : [ANTHOS_DEFAULT_HOST]).entries()) {
      if (typeof host !== "string") wrongType(`${at}.hosts[${j}]`, "a registry host", host);
      collector.mirror(host).endpoints.push({ ...endpoint });
    }
  });
  return finishImport(collector.mirrors(), notes, "Anthos registryMirrors");
}
