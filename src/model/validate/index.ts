/**
 * Validation of the mirror specification. Input may come from untyped JavaScript or Pulumi structured config, so
 * every field is type-checked defensively. All problems are collected and reported at once, each with its field
 * path and a message that says what is wrong and what to do.
 *
 * Messages never repeat secrets (passwords, header values, private keys, URL user info).
 */
import { isPlainObject } from "../plain-object";
import { RegistryMirrorsError, type Mirror, type Problem } from "../types";
import { describe, MIRROR_FIELDS, ENDPOINT_FIELDS, checkUnknownFields, optionalField, optionalBoolean } from "./common";
import { DOCKER_HUB, DOCKER_HUB_ALIASES, UPSTREAM_EXAMPLE, upstreamProblem, canonicalUpstream } from "./upstream";
import { endpointUrlProblems, normalizeEndpointUrl } from "./url";
import { checkTls } from "./tls";
import { checkCapabilities, checkAuth, checkHeaders } from "./credentials";

export { canonicalUpstream, upstreamProblem } from "./upstream";
export { endpointUrlProblems, normalizeEndpointUrl } from "./url";

/** Checks an endpoint's url; returns its normalised form for duplicate detection, or `undefined` when invalid. */
function checkUrl(ep: Record<string, unknown>, path: string, out: Problem[]): string | undefined {
  const url = ep.url;
  if (typeof url !== "string") {
    const message =
      url === undefined || url === null
        ? "is missing; set the mirror's URL, e.g. https://mirror.internal:5000"
        : `must be a string, got ${describe(url)}`;
    out.push({ path: `${path}.url`, message });
    return undefined;
  }
  const problems = endpointUrlProblems(url);
  for (const message of problems) out.push({ path: `${path}.url`, message });
  return problems.length === 0 ? normalizeEndpointUrl(url) : undefined;
}

/** Reports TLS settings on an http:// endpoint, where there is no TLS for them to apply to. */
function checkPlainHttp(ep: Record<string, unknown>, path: string, out: Problem[]): void {
  if (ep.skipVerify === true) {
    out.push({ path: `${path}.skipVerify`, message: "has no effect on an http:// endpoint (there is no TLS to verify); remove it, or use https://" });
  }
  for (const field of ["caCert", "clientCert", "clientKey"]) {
    if (ep[field] === undefined || ep[field] === null) continue;
    out.push({ path: `${path}.${field}`, message: `is never used on an http:// endpoint (plain HTTP has no TLS); use https://, or remove ${field}` });
  }
}

/**
 * Checks one endpoint. Returns its normalised URL (for duplicate detection), or `undefined` when it has none.
 */
function checkEndpoint(value: unknown, path: string, out: Problem[]): string | undefined {
  if (!isPlainObject(value)) {
    out.push({ path, message: `must be an object such as { url: "https://mirror.internal:5000" }, got ${describe(value)}` });
    return undefined;
  }
  checkUnknownFields(value, ENDPOINT_FIELDS, path, out);
  const normalized = checkUrl(value, path, out);
  const capabilities = optionalField(value, "capabilities", path, out);
  if (capabilities !== undefined) checkCapabilities(capabilities, `${path}.capabilities`, out);
  checkTls(value, path, out);
  optionalBoolean(value, "skipVerify", path, out);
  const auth = optionalField(value, "auth", path, out);
  if (auth !== undefined) checkAuth(auth, `${path}.auth`, out);
  const headers = optionalField(value, "headers", path, out);
  if (headers !== undefined) checkHeaders(headers, auth !== undefined, `${path}.headers`, out);
  if (normalized?.startsWith("http:")) checkPlainHttp(value, path, out);
  return normalized;
}

/** Checks a mirror's endpoint list, including duplicate URLs within it. */
function checkEndpoints(value: unknown, path: string, out: Problem[]): void {
  if (value === undefined || value === null) {
    out.push({ path, message: 'is missing; list at least one mirror, e.g. [{ url: "https://mirror.internal:5000" }]' });
    return;
  }
  if (!Array.isArray(value)) {
    out.push({ path, message: `must be a list of endpoints such as [{ url: "https://mirror.internal:5000" }], got ${describe(value)}` });
    return;
  }
  if (value.length === 0) {
    out.push({ path, message: "must list at least one endpoint; add one, or remove this mirror" });
    return;
  }
  const seen = new Map<string, number>();
  Array.from(value).forEach((ep: unknown, j) => {
    const normalized = checkEndpoint(ep, `${path}[${j}]`, out);
    if (normalized === undefined) return;
    const earlier = seen.get(normalized);
    if (earlier !== undefined) {
      out.push({ path: `${path}[${j}].url`, message: `is the same URL as ${path}[${earlier}].url; remove one of them` });
    } else {
      seen.set(normalized, j);
    }
  });
}

/** Checks a mirror's upstream; returns its canonical key for duplicate detection, or `undefined` when invalid. */
function checkUpstream(value: unknown, path: string, out: Problem[]): string | undefined {
  if (typeof value !== "string") {
    const message =
      value === undefined || value === null
        ? `is missing; set ${UPSTREAM_EXAMPLE}, or "*"`
        : `must be a string such as "docker.io", got ${describe(value)}`;
    out.push({ path, message });
    return undefined;
  }
  const problem = upstreamProblem(value);
  if (problem) out.push({ path, message: problem });
  return problem ? undefined : canonicalUpstream(value);
}

/** Checks one mirror. Returns its canonical upstream (for duplicate detection), or `undefined`. */
function checkMirror(value: unknown, path: string, out: Problem[]): string | undefined {
  if (!isPlainObject(value)) {
    out.push({ path, message: `must be an object such as { upstream: "docker.io", endpoints: [{ url: "https://…" }] }, got ${describe(value)}` });
    return undefined;
  }
  checkUnknownFields(value, MIRROR_FIELDS, path, out);
  const upstream = checkUpstream(value.upstream, `${path}.upstream`, out);
  checkEndpoints(value.endpoints, `${path}.endpoints`, out);
  const fallback = optionalBoolean(value, "fallback", path, out);
  const digestOnly = optionalBoolean(value, "digestOnly", path, out);
  if (fallback === false && digestOnly === true) {
    out.push({
      path: `${path}.digestOnly`,
      message:
        "contradicts fallback: false — tag pulls skip the mirrors and would have to go to the upstream, which fallback: false forbids; " +
        "remove digestOnly to pull tags from the mirrors too, or remove fallback: false to let tag pulls reach the upstream",
    });
  }
  return upstream;
}

/**
 * Collects every problem in a mirror list without throwing. Input may be untyped (JavaScript, Pulumi config).
 *
 * @param mirrors - The mirror list to check.
 * @param path - Field path of the list, used as the prefix of every problem's path.
 * @returns Every problem found, in document order; empty when the list is valid.
 */
export function findProblems(mirrors: unknown, path = "mirrors"): Problem[] {
  const out: Problem[] = [];
  if (!Array.isArray(mirrors)) {
    out.push({
      path,
      message: `must be a list of mirrors such as [{ upstream: "docker.io", endpoints: [{ url: "https://…" }] }], got ${describe(mirrors)}`,
    });
    return out;
  }
  const seen = new Map<string, number>();
  Array.from(mirrors).forEach((mirror: unknown, i) => {
    const key = checkMirror(mirror, `${path}[${i}]`, out);
    if (key === undefined) return;
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      const aliases = [...DOCKER_HUB_ALIASES];
      const same = key === DOCKER_HUB ? ` (${aliases.slice(0, -1).join(", ")} and ${aliases[aliases.length - 1]} are all Docker Hub)` : "";
      out.push({
        path: `${path}[${i}].upstream`,
        message: `mirrors the same registry as ${path}[${earlier}]${same}; merge their endpoints into one entry`,
      });
    } else {
      seen.set(key, i);
    }
  });
  return out;
}

/**
 * Validates a mirror list and throws if anything is wrong, listing every problem at once.
 *
 * @param mirrors - The mirror list; may come from untyped JavaScript or Pulumi structured config.
 * @param path - Field path of the list, used as the prefix of every problem's path. Default `mirrors`.
 * @throws {@link RegistryMirrorsError} whose `problems` name each bad field (e.g. `mirrors[2].endpoints[0].url`).
 */
export function validateMirrors(mirrors: unknown, path = "mirrors"): asserts mirrors is readonly Mirror[] {
  const problems = findProblems(mirrors, path);
  if (problems.length > 0) throw new RegistryMirrorsError(problems);
}
