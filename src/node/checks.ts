/**
 * What the node agent checks besides its own files, as it reads them from the apply's stdin bundle: the probe of
 * every mirror endpoint before anything is written, the question to the running runtime after (effective
 * configuration), and the proof pull through the mirrors alone. Pure: mirrors in, bundle lines and files out.
 */
import { RUNTIME_FACTS, isRancherDistribution, mainConfigPath } from "../model/runtimes";
import { canonicalUpstream } from "../model/validate";
import { hostSlug, hostsDirName, parseEndpointUrl } from "../render/common";
import { mirrorToHostsFile, renderHostsToml } from "../render/containerd/hosts";
import { crioLocation } from "../render/crio";
import { rancherCertDir } from "../render/k3s";
import type { Mirror, MirrorEndpoint, NodePaths, RuntimeKind } from "../model/types";
import { stringify } from "smol-toml";

/** How a failing probe counts: see the component's `probe` argument. */
export const ProbeMode = { Error: "error", Warn: "warn", Off: "off" } as const;
export type ProbeMode = (typeof ProbeMode)[keyof typeof ProbeMode];

/** Seconds one endpoint's probe may take, and all of a node's probes together. */
export const PROBE_TIMEOUT_SECONDS = 10;
export const PROBE_BUDGET_SECONDS = 60;
/** The runtimes' CRI sockets, for the CRI pulls of the effective-configuration check and the proof. */
export const CONTAINERD_SOCKET = "/run/containerd/containerd.sock";
export const CRIO_SOCKET = "/var/run/crio/crio.sock";

/** The CRI socket of a runtime (k3s and RKE2 run their containerd on their own). */
export function criSocket(runtime: RuntimeKind): string {
  return runtime === "cri-o" ? CRIO_SOCKET : (RUNTIME_FACTS[runtime].socket ?? CONTAINERD_SOCKET);
}
/** Seconds a proof pull may take per mirror endpoint. */
export const PROOF_TIMEOUT_SECONDS = 180;

/** One endpoint to probe, with exactly the TLS settings and credentials the runtime uses for it. */
export interface ProbeTarget {
  /** The endpoint URL as configured, for messages. */
  readonly label: string;
  /** The registry API root that is asked: `scheme://host[:port]/v2/`. */
  readonly url: string;
  /** `error`: a failure stops the apply; `warn`: it is reported and the apply goes on. */
  readonly severity: "error" | "warn";
  readonly caCert?: string;
  readonly clientCert?: string;
  readonly clientKey?: string;
  readonly skipVerify: boolean;
  readonly auth?: { readonly username: string; readonly password: string };
  readonly headers: Readonly<Record<string, string>>;
}

/** The endpoints a runtime will use, each once; none with `off`. Docker Engine uses only docker.io's mirrors. */
export function probeTargets(mirrors: Mirror[], runtime: RuntimeKind, mode: ProbeMode): ProbeTarget[] {
  if (mode === "off") return [];
  const seen = new Map<string, ProbeTarget>();
  for (const mirror of mirrors) {
    if (runtime === "docker" && canonicalUpstream(mirror.upstream) !== "docker.io") continue;
    // Without fallback a dead mirror loses every pull of its upstream: always an error.
    const severity = mode === "warn" && mirror.fallback !== false ? "warn" : "error";
    for (const endpoint of mirror.endpoints) {
      const target = probeTarget(endpoint, severity);
      const key = JSON.stringify({ ...target, severity: undefined });
      const before = seen.get(key);
      if (!before || (before.severity === "warn" && severity === "error")) seen.set(key, target);
    }
  }
  return [...seen.values()];
}

function probeTarget(endpoint: MirrorEndpoint, severity: "error" | "warn"): ProbeTarget {
  const parsed = parseEndpointUrl(endpoint.url);
  return {
    label: parsed.url,
    // The API root of the endpoint's server: a mirror under a path (Harbor's /v2/<project>) answers there as well.
    url: `${parsed.scheme}://${parsed.hostPort}/v2/`,
    severity,
    caCert: endpoint.caCert,
    clientCert: endpoint.clientCert,
    clientKey: endpoint.clientKey,
    skipVerify: endpoint.skipVerify === true,
    auth: endpoint.auth ? { username: endpoint.auth.username, password: endpoint.auth.password } : undefined,
    headers: { ...(endpoint.headers ?? {}) },
  };
}

/** A value in a curl config file: double-quoted, with curl's escapes. */
function curlQuote(value: string): string {
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t")}"`;
}

/**
 * The secret parts of a probe as config files, so that no credential is ever on a command line: curl's `-K` file
 * and GNU wget's `--config` file. The agent adds the paths of the CA and client files it writes.
 */
export function probeConfigs(target: ProbeTarget): { curl: string; wget: string } {
  const curl: string[] = [];
  const wget: string[] = [];
  if (target.auth) {
    curl.push(`user = ${curlQuote(`${target.auth.username}:${target.auth.password}`)}`);
    wget.push(`user = ${target.auth.username}`, `password = ${target.auth.password}`, "auth_no_challenge = on");
  }
  for (const [name, value] of Object.entries(target.headers)) {
    curl.push(`header = ${curlQuote(`${name}: ${value}`)}`);
    wget.push(`header = ${name}: ${value}`);
  }
  return { curl: curl.map((l) => `${l}\n`).join(""), wget: wget.map((l) => `${l}\n`).join("") };
}

/** An image reference split the way registries resolve it: `nginx` is `docker.io/library/nginx:latest`. */
export interface ImageReference {
  /** The registry, canonical (`docker.io` for Docker Hub under any name). */
  readonly registry: string;
  /** The repository path, e.g. `library/nginx`. */
  readonly repository: string;
  /** `:tag` or `@sha256:…`. */
  readonly version: string;
  /** The fully qualified reference, as `ctr` needs it. */
  readonly full: string;
}

const REFERENCE =
  /^(?:([a-z0-9.-]+(?::[0-9]+)?)\/)?([a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*)(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/;

/** Splits an image reference, or says what is wrong with it. */
export function parseImageReference(ref: string): ImageReference | string {
  if (typeof ref !== "string" || ref === "") return "must be an image reference such as docker.io/library/busybox:1.36 or …@sha256:<digest>";
  const m = REFERENCE.exec(ref);
  if (!m) return `${JSON.stringify(ref)} is not an image reference (registry/repository:tag or registry/repository@sha256:<64 hex digits>)`;
  let first: string | undefined = m[1];
  let rest = m[2];
  // The first part is a registry only when it looks like a host (a dot, a port or localhost), as Docker decides.
  if (first !== undefined && !/[.:]/.test(first) && first !== "localhost") {
    rest = `${first}/${rest}`;
    first = undefined;
  }
  const registry = canonicalUpstream(first ?? "docker.io");
  const repository = registry === "docker.io" && !rest.includes("/") ? `library/${rest}` : rest;
  const version = m[4] ?? m[3] ?? ":latest";
  const full = `${registry}/${repository}${version}`;
  return { registry, repository, version, full };
}

/** The mirror that serves an image's registry: its own entry, else the catch-all `*`. */
export function mirrorForImage(mirrors: Mirror[], image: ImageReference): Mirror | undefined {
  return mirrors.find((m) => m.upstream !== "*" && canonicalUpstream(m.upstream) === image.registry) ?? mirrors.find((m) => m.upstream === "*");
}

/** How a proof pull runs on one runtime: one attempt per mirror endpoint, each able to reach that endpoint only. */
export interface ProofPlan {
  readonly image: ImageReference;
  /** Per endpoint, in order: its label and the file that lets the pull reach only it. */
  readonly attempts: readonly { readonly label: string; readonly name: string; readonly content: string }[];
}

/**
 * containerd: a hosts directory with one hosts.toml per attempt whose only host and `server` is that endpoint (with
 * the real certificate paths and headers), for `ctr images pull --hosts-dir`. CRI-O: a registries.conf whose entry
 * for exactly the image's repository (a longer prefix wins over every drop-in) has that endpoint as its location.
 * Docker cannot be kept from Docker Hub: one plain pull.
 */
export function proofPlan(mirrors: Mirror[], runtime: RuntimeKind, image: ImageReference, paths: NodePaths): ProofPlan {
  const mirror = mirrorForImage(mirrors, image);
  if (!mirror) throw new Error(`no mirror is configured for ${image.registry}, the registry of ${image.full}`);
  if (runtime === "docker") return { image, attempts: [{ label: "docker.io-or-a-mirror", name: "-", content: "" }] };
  if (runtime === "containerd" || isRancherDistribution(runtime)) {
    const { file } = mirrorToHostsFile(mirror, paths.hostsDir);
    // k3s/RKE2 nodes have the certificate files beside registries.yaml (render/k3s.ts), one directory per host.
    const certDir = isRancherDistribution(runtime) ? rancherCertDir(mainConfigPath(runtime, paths) as string) : undefined;
    const rancherHost = (host: (typeof file.hosts)[number]) => {
      if (!certDir) return host;
      const dir = `${certDir}/${hostSlug(parseEndpointUrl(host.url).hostPort)}`;
      return {
        ...host,
        ...(host.ca ? { ca: [`${dir}/ca.crt`] } : {}),
        ...(host.client ? { client: [[`${dir}/client.cert`, `${dir}/client.key`]] as [string, string][] } : {}),
      };
    };
    return {
      image,
      attempts: file.hosts.map(rancherHost).map((host) => ({
        label: host.url,
        name: hostsDirName(mirror.upstream === "*" ? "*" : image.registry),
        // Pull and resolve, whatever the mirror's capabilities: the proof must be able to fetch the tag from it.
        content: renderHostsToml({
          ...file,
          server: { ...host, capabilities: ["pull", "resolve"] },
          hosts: [{ ...host, capabilities: ["pull", "resolve"] }],
        }),
      })),
    };
  }
  const prefix = `${image.registry}/${image.repository}`;
  return {
    image,
    attempts: mirror.endpoints.map((endpoint) => {
      const parsed = parseEndpointUrl(endpoint.url);
      // The plan was rendered already, so every endpoint has a location.
      const base = crioLocation(parsed) ?? parsed.hostPort;
      const entry: Record<string, unknown> = { prefix, location: `${base}/${image.repository}` };
      if (parsed.scheme === "http" || endpoint.skipVerify === true) entry.insecure = true;
      return { label: parsed.url, name: "registries.conf", content: `${stringify({ registry: [entry] })}\n` };
    }),
  };
}

/**
 * What the running runtime must show for the apply to stand (see `check_effective` in checks.sh): containerd and
 * CRI-O that they read our directory (a CRI pull of a canary host; not with containerd's legacy `write`, which uses
 * no hosts directory), Docker its mirrors in `docker info`.
 */
export function effectiveCheck(runtime: RuntimeKind, mirrors: Mirror[], paths: NodePaths, legacyWrite: boolean): string | undefined {
  if (runtime === "containerd") return legacyWrite ? undefined : `containerd ${paths.hostsDir} ${CONTAINERD_SOCKET}`;
  if (isRancherDistribution(runtime)) {
    // Each mirror's hosts.toml as the distribution generated it, with each endpoint's scheme://host[:port].
    const expected = mirrors.flatMap((m) =>
      m.endpoints.map((e) => {
        const parsed = parseEndpointUrl(e.url);
        return `${hostsDirName(m.upstream === "*" ? "*" : canonicalUpstream(m.upstream))}|${parsed.scheme}://${parsed.hostPort}`;
      }),
    );
    const facts = RUNTIME_FACTS[runtime];
    return [runtime, facts.generatedHostsDir, facts.socket, ...expected].join(" ");
  }
  if (runtime === "docker") {
    const urls = mirrors
      .filter((m) => canonicalUpstream(m.upstream) === "docker.io")
      .flatMap((m) => m.endpoints.map((e) => parseEndpointUrl(e.url).url));
    return urls.length > 0 ? `docker ${urls.join(" ")}` : undefined;
  }
  return `cri-o ${paths.registriesDir} ${CRIO_SOCKET}`;
}
