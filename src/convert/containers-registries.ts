/**
 * containers-registries.conf v2 (CRI-O, podman, skopeo, buildah): `/etc/containers/registries.conf` and its drop-ins
 * in `/etc/containers/registries.conf.d/` — `[[registry]]` { prefix, location, insecure, blocked,
 * mirror-by-digest-only, `[[registry.mirror]]` { location, insecure, pull-from-mirror } }.
 *
 * Source: containers/image docs/containers-registries.conf.5.md (prefix defaults to location; mirrors tried in
 * order, then the primary `location`; `insecure` allows plain HTTP and unverified TLS; `mirror-by-digest-only`;
 * `pull-from-mirror` = all | digest-only | tag-only; unqualified-search-registries, aliases and short-name-mode are
 * about short names, not mirrors) and containers-registries.conf.d(5) (drop-ins read in alphanumerical order after
 * the main file; a later `[[registry]]` with the same prefix replaces the earlier one). Our CRI-O renderer is the
 * inverse: with `fallback: false` the last mirror becomes `location`, and a mirror path `host/ns` is `…/v2/ns`.
 */
import { parse } from "smol-toml";
import { RegistryMirrorsError } from "../model/types";
import { canonicalUpstream, upstreamProblem } from "../model/validate";
import { compareCodeUnits } from "../render/common";
import {
  MirrorCollector,
  finishImport,
  isPlainObject,
  noteUnknownFields,
  optionalBool,
  optionalList,
  optionalString,
  wrongType,
  type EndpointDraft,
} from "./common";
import type { ConversionNote, ImportResult } from "./types";

const REGISTRY_FIELDS = ["prefix", "location", "insecure", "blocked", "mirror-by-digest-only", "mirror"];
const MIRROR_FIELDS = ["location", "insecure", "pull-from-mirror"];

/** One `[[registry]]` table with where it came from. */
interface RegistryTable {
  readonly table: Record<string, unknown>;
  readonly path: string;
}

/** Our URL for a containers/image location (`host[:port][/namespace]`): the namespace goes below `/v2/`. */
function locationUrl(location: string): string {
  const slash = location.indexOf("/");
  const host = slash < 0 ? location : location.slice(0, slash);
  const namespace = slash < 0 ? "" : location.slice(slash + 1).replace(/\/+$/, "");
  return `https://${host}${namespace ? `/v2/${namespace}` : ""}`;
}

/** Parses one file's `[[registry]]` tables, noting what is no mirror configuration. */
function readFile(name: string, text: string, notes: ConversionNote[]): RegistryTable[] {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new RegistryMirrorsError(
      [{ path: name, message: `is not valid TOML: ${(e as Error).message.split("\n")[0]}` }],
      "cannot import registries.conf",
    );
  }
  for (const key of Object.keys(doc)) {
    if (key === "registry") continue;
    const why =
      key === "registries"
        ? "is the deprecated version 1 format (search/insecure/block lists), which has no mirrors"
        : "is not about mirrors (short names, credential helpers, …)";
    notes.push({ path: `${name}: ${key}`, message: `${why}; it was not imported` });
  }
  return optionalList(doc, "registry", name).map((table, i) => {
    const path = `${name}: registry[${i}]`;
    if (!isPlainObject(table)) wrongType(path, "a [[registry]] table", table);
    return { table, path };
  });
}

/** Imports one `[[registry]]` table into the collector. */
function importTable({ table, path }: RegistryTable, collector: MirrorCollector, notes: ConversionNote[]): void {
  noteUnknownFields(table, REGISTRY_FIELDS, path, notes, "[[registry]]");
  const location = optionalString(table, "location", path);
  const prefix = optionalString(table, "prefix", path) ?? location;
  if (prefix === undefined) wrongType(`${path}.location`, "a registry location (neither prefix nor location is set)", undefined);
  const mirrors = optionalList(table, "mirror", path);
  if (optionalBool(table, "blocked", path) === true) {
    notes.push({ path: `${path}.blocked`, message: "blocks pulls from this prefix; our spec cannot block a registry, so it was not imported" });
    return;
  }
  if (prefix.includes("/") || prefix.startsWith("*.") || upstreamProblem(prefix)) {
    notes.push({
      path: `${path}.prefix`,
      message: `"${prefix}" is a namespace, repository or wildcard prefix; our spec mirrors whole registries, so it was not imported`,
    });
    return;
  }
  const draft = collector.mirror(prefix);
  const digestOnly = optionalBool(table, "mirror-by-digest-only", path) === true;
  if (digestOnly) draft.digestOnly = true;
  mirrors.forEach((raw, j) => {
    const at = `${path}.mirror[${j}]`;
    if (!isPlainObject(raw)) wrongType(at, "a [[registry.mirror]] table", raw);
    noteUnknownFields(raw, MIRROR_FIELDS, at, notes, "[[registry.mirror]]");
    const mirrorLocation = optionalString(raw, "location", at);
    if (mirrorLocation === undefined) wrongType(`${at}.location`, "the mirror's host[:port][/namespace]", undefined);
    const insecure = optionalBool(raw, "insecure", at) === true;
    const endpoint: EndpointDraft = { url: locationUrl(mirrorLocation) };
    if (insecure) {
      endpoint.skipVerify = true;
      notes.push({
        path: `${at}.insecure`,
        message: "also allows plain HTTP; imported as https:// with skipVerify — write http://… instead if the mirror only speaks HTTP",
      });
    }
    const pullFrom = optionalString(raw, "pull-from-mirror", at);
    if (pullFrom === "digest-only" && !digestOnly) endpoint.capabilities = ["pull"];
    else if (pullFrom === "tag-only")
      notes.push({ path: `${at}.pull-from-mirror`, message: 'is "tag-only", which our spec cannot express; the mirror is used for every pull' });
    draft.endpoints.push(endpoint);
  });
  // A location other than the prefix is a remapped primary: the upstream itself is never contacted.
  if (location !== undefined && canonicalUpstream(location) !== canonicalUpstream(prefix)) {
    const insecure = optionalBool(table, "insecure", path) === true;
    const endpoint: EndpointDraft = { url: locationUrl(location) };
    if (insecure) endpoint.skipVerify = true;
    draft.endpoints.push(endpoint);
    draft.fallback = false;
  } else if (optionalBool(table, "insecure", path) === true) {
    notes.push({
      path: `${path}.insecure`,
      message: "makes pulls from the upstream itself insecure; our spec configures mirrors only, so it was not imported",
    });
  }
  if (draft.endpoints.length === 0) notes.push({ path, message: "has no mirror, so it was not imported" });
}

/**
 * Imports a containers-registries.conf, or a main file plus drop-ins, into our spec.
 *
 * @param files - File name → TOML text; read in the order containers/image reads them: `registries.conf` first, then
 *   the others in alphanumerical order. A single file may have any name.
 * @returns The mirrors, and notes for prefixes, blocks, `tag-only` and other settings our spec cannot hold.
 * @throws RegistryMirrorsError for TOML that does not parse, a malformed table, or an invalid result.
 */
export function importContainersRegistries(files: Readonly<Record<string, string>>): ImportResult {
  const notes: ConversionNote[] = [];
  const names = Object.keys(files).sort((a, b) => (a === "registries.conf" ? -1 : b === "registries.conf" ? 1 : compareCodeUnits(a, b)));
  // A later table with the same prefix replaces an earlier one (containers-registries.conf.d(5)).
  const byPrefix = new Map<string, RegistryTable>();
  for (const name of names) {
    for (const entry of readFile(name, files[name], notes)) {
      const prefix = String(entry.table.prefix ?? entry.table.location ?? "");
      const key = upstreamProblem(prefix) ? prefix : canonicalUpstream(prefix);
      const earlier = byPrefix.get(key);
      if (earlier) notes.push({ path: earlier.path, message: `is replaced by ${entry.path} (same prefix), as containers/image does` });
      byPrefix.delete(key);
      byPrefix.set(key, entry);
    }
  }
  const collector = new MirrorCollector();
  for (const entry of byPrefix.values()) importTable(entry, collector, notes);
  return finishImport(collector.mirrors(), notes, "registries.conf");
}
