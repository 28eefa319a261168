/**
 * Docker Engine: `registry-mirrors` (and `insecure-registries`) in daemon.json, merged into the live JSON so
 * every other key survives. Docker only mirrors Docker Hub and always falls back to it. Both keys are on
 * dockerd's SIGHUP reload list, so a change needs a reload, not a restart.
 */
import { runtimeAction } from "../model/runtimes";
import { RegistryMirrorsError, type Mirror, type NodePaths, type Problem, type RuntimeInfo } from "../model/types";
import { versionAtLeast } from "../model/version";
import { certsDirFiles } from "./certs-dir";
import { DEFAULT_CAPABILITIES, effectiveCapabilities, isDockerHub, parseEndpointUrl, sortFiles } from "./common";
import type { NodePlan } from "./types";

/** Renders the Docker plan. Throws for what daemon.json cannot express. */
export function renderDocker(mirrors: Mirror[], runtime: RuntimeInfo, liveConfig: string | undefined, paths: NodePaths): NodePlan {
  const problems: Problem[] = [];
  const warnings: string[] = [];
  const urls: string[] = [];
  const insecure: string[] = [];
  mirrors.forEach((mirror, i) => {
    const at = `mirrors[${i}]`;
    if (!isDockerHub(mirror.upstream)) {
      problems.push({
        path: `${at}.upstream`,
        message: `Docker Engine can only mirror docker.io, not ${mirror.upstream}; remove this mirror for Docker nodes or switch them to containerd`,
      });
      return;
    }
    if (mirror.fallback === false)
      problems.push({ path: `${at}.fallback`, message: "Docker Engine always falls back to Docker Hub; remove fallback: false for Docker nodes" });
    if (mirror.digestOnly)
      problems.push({
        path: `${at}.digestOnly`,
        message: "Docker Engine cannot restrict mirrors to pulls by digest; remove digestOnly for Docker nodes",
      });
    mirror.endpoints.forEach((endpoint, j) => {
      const epAt = `${at}.endpoints[${j}]`;
      const parsed = parseEndpointUrl(endpoint.url);
      if (endpoint.auth)
        problems.push({ path: `${epAt}.auth`, message: "Docker Engine cannot send credentials to a mirror; remove auth for Docker nodes" });
      if (endpoint.headers && Object.keys(endpoint.headers).length > 0)
        problems.push({ path: `${epAt}.headers`, message: "Docker Engine cannot send custom headers to a mirror; remove them for Docker nodes" });
      const caps = effectiveCapabilities(mirror, endpoint);
      if (DEFAULT_CAPABILITIES.some((c) => !caps.includes(c)))
        problems.push({
          path: `${epAt}.capabilities`,
          message: "Docker Engine uses a mirror for both tag and digest pulls; remove capabilities for Docker nodes",
        });
      if (parsed.path !== "" && runtime.version && !versionAtLeast(runtime.version, "25.0.0")) {
        problems.push({
          path: `${epAt}.url`,
          message: `Docker Engine ${runtime.version} ignores mirror paths (supported from 25.0); use a mirror URL without a path`,
        });
      }
      urls.push(parsed.url);
      if (parsed.scheme === "http" || endpoint.skipVerify) insecure.push(parsed.hostPort);
    });
  });
  const files = certsDirFiles(mirrors, paths.dockerCertsDir, "Docker Engine", problems);
  if (problems.length > 0) throw new RegistryMirrorsError(problems, "cannot configure Docker Engine");

  if (liveConfig === undefined) {
    warnings.push(`daemon.json was not read, so it is left as it is: it must set "registry-mirrors": ${JSON.stringify(urls)}`);
    return { files: sortFiles(files), mainConfig: undefined, action: runtimeAction("docker", false), warnings };
  }
  const live = parseDaemonJson(liveConfig);
  const next: Record<string, unknown> = { ...live, "registry-mirrors": urls };
  const liveInsecure = Array.isArray(live["insecure-registries"]) ? (live["insecure-registries"] as unknown[]).map(String) : [];
  const mergedInsecure = [...liveInsecure, ...insecure.filter((h) => !liveInsecure.includes(h))];
  if (mergedInsecure.length > 0) next["insecure-registries"] = mergedInsecure;
  if (urls.length === 0) delete next["registry-mirrors"];

  const unchanged = JSON.stringify(next) === JSON.stringify(live);
  const mainConfig = unchanged ? undefined : { path: paths.dockerDaemonJson, content: `${JSON.stringify(next, null, 2)}\n` };
  return { files: sortFiles(files), mainConfig, action: runtimeAction("docker", mainConfig !== undefined), warnings };
}

/** Parses daemon.json; empty means no file. */
function parseDaemonJson(text: string): Record<string, unknown> {
  if (text.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new RegistryMirrorsError(
      [{ path: "liveConfig", message: `daemon.json is not valid JSON (${(e as Error).message}); fix it on the node first` }],
      "cannot configure Docker Engine",
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new RegistryMirrorsError(
      [{ path: "liveConfig", message: "daemon.json must hold a JSON object; fix it on the node first" }],
      "cannot configure Docker Engine",
    );
  }
  return parsed as Record<string, unknown>;
}
