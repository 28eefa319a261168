/** Host names and the upstream registry of a mirror. */
import { charName, firstControl } from "./common";
// Host names

/** Docker Hub's name in image references, to which {@link canonicalUpstream} maps its other names. */
export const DOCKER_HUB = "docker.io";

/** The registry hosts that all mean Docker Hub. */
export const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set([DOCKER_HUB, "index.docker.io", "registry-1.docker.io"]);

/** Why an all-numeric dotted host is not an IPv4 address, or `undefined` when it is one. */
export function ipv4Problem(host: string): string | undefined {
  const parts = host.split(".");
  const ok = parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
  return ok ? undefined : `"${host}" is not a valid IPv4 address; write four numbers from 0 to 255 without leading zeros, e.g. 10.0.0.5`;
}

/** Why one DNS label is not an RFC 1123 label, or `undefined`. */
export function labelProblem(label: string, host: string): string | undefined {
  if (label === "") {
    return host.endsWith(".")
      ? `remove the trailing "." from "${host}"`
      : `"${host}" has an empty label ("..", or a leading "."); remove the extra "."`;
  }
  if (label.length > 63) return `label "${label.slice(0, 20)}…" is ${label.length} characters long; each dot-separated label may have at most 63`;
  const bad = /[^a-z0-9-]/.exec(label)?.[0];
  if (bad) return `contains ${charName(bad)}, which is not allowed in a host name; use lowercase letters, digits, "-" and "."`;
  if (label.startsWith("-") || label.endsWith("-")) return `label "${label}" must not start or end with "-"`;
  return undefined;
}

/** Why a lowercase host (no port) is neither a DNS name nor an IPv4 address, or `undefined` when it is one. */
export function hostnameProblem(host: string): string | undefined {
  if (host === "") return "has no host name; write one such as registry.local";
  if (/^[0-9.]+$/.test(host)) return ipv4Problem(host);
  if (host.length > 253) return `host name is ${host.length} characters long; the maximum is 253`;
  for (const label of host.split(".")) {
    const problem = labelProblem(label, host);
    if (problem) return problem;
  }
  return undefined;
}

/** Why a port string is not a port number from 1 to 65535, or `undefined`. */
export function portProblem(port: string): string | undefined {
  if (port === "") return `ends with ":" but has no port; remove the ":" or add a port number`;
  const ok = /^[1-9]\d{0,4}$/.test(port) && Number(port) <= 65535;
  return ok ? undefined : `port "${port}" must be a number from 1 to 65535 without leading zeros`;
}

// Upstream

/** The parts of an upstream written like a URL: everything that must not be there is split out. */
export const UPSTREAM_PARTS_RE =
  /^(?<scheme>[A-Za-z][A-Za-z0-9+.-]*:\/\/)?(?<userinfo>[^@/?#]*@)?(?<hostport>[^/?#]*)(?<path>\/[^?#]*)?(?<query>\?[^#]*)?(?<fragment>#.*)?$/;

/** How a valid upstream looks, for messages. */
export const UPSTREAM_EXAMPLE = "a registry host such as docker.io or registry.local:5000";

/** Why the scheme/user info/path/query/fragment make an upstream invalid, or `undefined` when it has none. */
export function upstreamStructureProblem(value: string): string | undefined {
  const g = UPSTREAM_PARTS_RE.exec(value)?.groups ?? {};
  const extras: Array<[what: string, text: string | undefined]> = [
    ["scheme", g.scheme],
    ["user info", g.userinfo && "…@"],
    ["path", g.path],
    ["query", g.query],
    ["fragment", g.fragment],
  ];
  const found = extras.filter(([, text]) => text !== undefined);
  if (found.length === 0) return undefined;
  const whats = found.map(([what]) => what).join(" or ");
  const texts = found.map(([, text]) => JSON.stringify(text)).join(" and ");
  let message = `must be ${UPSTREAM_EXAMPLE}, without a ${whats}; remove ${texts}`;
  if (g.userinfo) message += " (credentials belong in the endpoint's auth)";
  if (g.path) message += " (a mirror's path belongs in the endpoint url)";
  const suggestion = g.hostport.toLowerCase();
  if (suggestion !== "" && upstreamProblem(suggestion) === undefined) message += `; write "${suggestion}"`;
  return message;
}

/** Why a `host[:port]` (no scheme or path) is not a valid upstream, or `undefined`. */
export function hostPortProblem(hostport: string): string | undefined {
  if (hostport.includes("*")) {
    return `wildcards like "${hostport}" are not supported; use exactly "*" for every registry without its own entry, or list each host`;
  }
  if (hostport.startsWith("[")) return "IPv6 addresses are not supported as upstream; use a DNS name for the registry";
  const colon = hostport.indexOf(":");
  if (colon !== hostport.lastIndexOf(":")) return `"${hostport}" has more than one ":"; write host or host:port`;
  const host = colon < 0 ? hostport : hostport.slice(0, colon);
  const portIssue = colon < 0 ? undefined : portProblem(hostport.slice(colon + 1));
  const hostIssue = hostnameProblem(host.toLowerCase()) ?? portIssue;
  if (hostIssue) return hostIssue;
  if (host !== host.toLowerCase()) return `must be lowercase; write "${hostport.toLowerCase()}"`;
  if (colon < 0 && !host.includes(".") && host !== "localhost") {
    return `"${host}" has no "." or port, so image references never treat it as a registry ("${host}/app" means docker.io/${host}/app); write the full host name or add the port`;
  }
  return undefined;
}

/**
 * Why a string is not a valid mirror upstream, or `undefined` when it is valid.
 *
 * Valid: exactly `"*"`; or a lowercase RFC 1123 DNS name or an IPv4 address, with an optional `:port` (1–65535).
 * Never a scheme, user info, path, query, fragment, whitespace or control character.
 *
 * @param value - The upstream as written by the user.
 * @returns A message that says what is wrong and what to write instead, or `undefined`.
 */
export function upstreamProblem(value: string): string | undefined {
  if (value === "*") return undefined;
  if (value === "") return `must not be empty; write ${UPSTREAM_EXAMPLE}, or "*" for every registry`;
  if (value === "_default") return 'write "*" for the default entry (the renderers map it to containerd\'s _default)';
  const control = firstControl(value);
  if (control) return `contains the control character ${charName(control)}; remove it`;
  if (/\s/.test(value)) return `contains whitespace; remove it (write ${UPSTREAM_EXAMPLE})`;
  return upstreamStructureProblem(value) ?? hostPortProblem(value);
}

/**
 * The key under which two upstreams denote the same registry: lower-cased, and `index.docker.io` /
 * `registry-1.docker.io` mapped to `docker.io`.
 *
 * @param upstream - A valid upstream.
 */
export function canonicalUpstream(upstream: string): string {
  const lower = upstream.toLowerCase();
  return DOCKER_HUB_ALIASES.has(lower) ? DOCKER_HUB : lower;
}
