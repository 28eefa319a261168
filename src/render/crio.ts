/**
 * CRI-O, podman, skopeo and buildah: a containers-registries.conf v2 drop-in per upstream (read by containers/image),
 * certificates in the per-host certs.d directory, and credentials in a containers-auth.json file.
 * CRI-O re-reads registries.conf on SIGHUP, so the runtime needs a reload, never a restart.
 */
import { runtimeAction } from "../model/runtimes";
import { stringify } from "smol-toml";
import { RegistryMirrorsError, type Mirror, type NodePaths, type Problem } from "../model/types";
import { canonicalUpstream } from "../model/validate";
import { certsDirFiles } from "./certs-dir";
import {
  OWNED_MARKER,
  basicCredentials,
  effectiveCapabilities,
  joinPath,
  needsOverridePath,
  parseEndpointUrl,
  sortFiles,
  sortedEntries,
  type ParsedEndpoint,
} from "./common";
import type { NodePlan, PlannedFile } from "./types";

/**
 * File name of an upstream's drop-in: late in alphanumerical order, so it overrides distribution defaults for its
 * prefix. One file per upstream (containers/image merges `[[registry]]` tables of all drop-ins by prefix), so that
 * several instances on one node each own their upstreams' files, and two that configure one upstream meet at one path.
 */
export function crioDropIn(upstream: string): string {
  return `99-registry-mirrors-${canonicalUpstream(upstream)}.conf`;
}

/** Renders the CRI-O/containers plan. Throws for what containers-registries.conf cannot express. */
export function renderCrio(mirrors: Mirror[], paths: NodePaths): NodePlan {
  const problems: Problem[] = [];
  const warnings: string[] = [];
  const registries = mirrors.map((mirror, i) => registryTable(mirror, i, problems));
  const files: PlannedFile[] = certsDirFiles(mirrors, paths.containersCertsDir, "containers/image", problems);
  const auths = authEntries(mirrors);
  if (problems.length > 0) throw new RegistryMirrorsError(problems, "cannot configure CRI-O/containers");

  const header = [
    `# ${OWNED_MARKER}. Do not edit: changes are overwritten.`,
    "# containers-registries.conf v2 drop-in; mirrors are tried in order, then `location`.",
    "",
  ].join("\n");
  mirrors.forEach((mirror, i) => {
    files.push({
      path: joinPath(paths.registriesDir, crioDropIn(mirror.upstream)),
      content: `${header}\n${stringify({ registry: [registries[i]] }).trimEnd()}\n`,
      mode: 0o644,
    });
  });
  if (Object.keys(auths).length > 0) {
    files.push({ path: paths.containersAuthFile, content: `${JSON.stringify({ auths }, null, 2)}\n`, mode: 0o600, secret: true });
    warnings.push(
      `mirror credentials are in ${paths.containersAuthFile}: CRI-O uses them when crio.conf sets [crio.image] global_auth_file = "${paths.containersAuthFile}"; podman and skopeo need --authfile`,
    );
  }
  return { files: sortFiles(files), mainConfig: undefined, action: runtimeAction("cri-o", false), warnings };
}

/** One `[[registry]]` table. */
function registryTable(mirror: Mirror, i: number, problems: Problem[]): Record<string, unknown> {
  const at = `mirrors[${i}]`;
  if (mirror.upstream === "*") {
    problems.push({ path: `${at}.upstream`, message: 'containers-registries.conf has no catch-all registry; list each upstream instead of "*"' });
  }
  // Docker Hub references are normalised to docker.io, whatever name the spec used.
  const prefix = canonicalUpstream(mirror.upstream);
  const endpoints = mirror.endpoints.map((endpoint, j) => {
    const parsed = parseEndpointUrl(endpoint.url);
    const epAt = `${at}.endpoints[${j}]`;
    if (endpoint.headers && Object.keys(endpoint.headers).length > 0) {
      problems.push({ path: `${epAt}.headers`, message: "containers-registries.conf cannot send custom headers; remove them for CRI-O nodes" });
    }
    const location = mirrorLocation(parsed, `${epAt}.url`, problems);
    const insecure = parsed.scheme === "http" || endpoint.skipVerify === true;
    // A mirror without `resolve` may only serve pulls by digest.
    const digestOnly = !effectiveCapabilities(mirror, endpoint).includes("resolve");
    return { location, insecure, digestOnly };
  });

  const table: Record<string, unknown> = { prefix };
  const mirrorTable = (e: { location: string; insecure: boolean; digestOnly: boolean }): Record<string, unknown> => ({
    location: e.location,
    ...(e.insecure ? { insecure: true } : {}),
    ...(e.digestOnly ? { "pull-from-mirror": "digest-only" } : {}),
  });
  if (mirror.fallback === false) {
    // The primary location is tried last: making it the last mirror keeps the order and never reaches upstream.
    const last = endpoints[endpoints.length - 1];
    if (last.digestOnly) {
      problems.push({
        path: `${at}.endpoints[${endpoints.length - 1}].capabilities`,
        message: 'with fallback: false the last endpoint replaces the upstream and must resolve tags; add "resolve"',
      });
    }
    table.location = last.location;
    if (last.insecure) table.insecure = true;
    table.mirror = endpoints.slice(0, -1).map(mirrorTable);
  } else {
    table.location = prefix;
    table.mirror = endpoints.map(mirrorTable);
  }
  return table;
}

/**
 * containers/image adds `/v2/` right after the host, so a containerd-style `…/v2/<namespace>` URL becomes
 * `host/<namespace>`; a path that does not start with `/v2` cannot be expressed.
 */
function mirrorLocation(endpoint: ParsedEndpoint, at: string, problems: Problem[]): string {
  const location = crioLocation(endpoint);
  if (location !== undefined) return location;
  problems.push({
    path: at,
    message: `containers/image always requests ${endpoint.hostPort}/v2/…; a mirror path must start with /v2/ (e.g. https://${endpoint.hostPort}/v2${endpoint.path})`,
  });
  return endpoint.hostPort;
}

/** An endpoint as a containers-registries.conf `location`; undefined for a path containers/image cannot request. */
export function crioLocation(endpoint: ParsedEndpoint): string | undefined {
  if (!needsOverridePath(endpoint)) return endpoint.hostPort;
  return endpoint.path.startsWith("/v2/") ? `${endpoint.hostPort}${endpoint.path.slice(3)}` : undefined;
}

/** containers-auth.json entries, keyed by mirror host. */
function authEntries(mirrors: Mirror[]): Record<string, { auth: string }> {
  const auths: Record<string, { auth: string }> = {};
  for (const mirror of mirrors) {
    for (const endpoint of mirror.endpoints) {
      if (!endpoint.auth) continue;
      const { hostPort } = parseEndpointUrl(endpoint.url);
      auths[hostPort] = { auth: basicCredentials(endpoint.auth.username, endpoint.auth.password) };
    }
  }
  return Object.fromEntries(sortedEntries(auths));
}
