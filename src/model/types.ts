/**
 * The typed mirror specification: which registry is mirrored where, and how.
 * Every other stage (renderers, node scripts, the Pulumi component) consumes these types.
 */

/** What a mirror endpoint may be used for. containerd's `capabilities` in hosts.toml. */
export const Capability = { Pull: "pull", Resolve: "resolve", Push: "push" } as const;
export type Capability = (typeof Capability)[keyof typeof Capability];

/** Credentials sent to a mirror as HTTP basic auth. */
export interface BasicAuth {
  /** User name; must not be empty and must not contain `:`. */
  readonly username: string;
  /** Password or token. Treated as secret everywhere. */
  readonly password: string;
}

/** One place that serves images of an upstream registry. */
export interface MirrorEndpoint {
  /**
   * Endpoint URL with scheme, e.g. `https://mirror.internal:5000` or `http://10.0.0.5:5000`.
   * A path (e.g. `https://harbor.example.com/v2/dockerhub`) means the mirror serves the upstream under
   * that path; containerd then gets `override_path = true`.
   */
  readonly url: string;
  /**
   * What the endpoint is used for; `resolve` requires `pull`.
   * @default ["pull", "resolve"]
   */
  readonly capabilities?: Capability[];
  /** PEM text of the CA certificate(s) that sign the mirror's TLS certificate. @default the node's trust store */
  readonly caCert?: string;
  /** PEM text of a client certificate for mutual TLS; requires `clientKey`. */
  readonly clientCert?: string;
  /** PEM text of the private key of `clientCert`; secret. Requires `clientCert`. */
  readonly clientKey?: string;
  /**
   * Do not verify the mirror's TLS certificate. Discouraged; prefer `caCert`.
   * @default false
   */
  readonly skipVerify?: boolean;
  /** Pull credentials for this mirror. @default none */
  readonly auth?: BasicAuth;
  /** Extra HTTP headers sent to this mirror; their values are secret. @default none */
  readonly headers?: Record<string, string>;
}

/** One mirrored upstream registry. */
export interface Mirror {
  /**
   * Registry host with optional port (`docker.io`, `gcr.io`, `registry.local:5000`), or `"*"` for every
   * registry that has no entry of its own. Never a scheme or a path.
   */
  readonly upstream: string;
  /** Mirrors, tried in this order. At least one. */
  readonly endpoints: MirrorEndpoint[];
  /**
   * When every mirror fails, pull from the upstream itself. `false`: the node never contacts the upstream for
   * this registry.
   * @default true
   */
  readonly fallback?: boolean;
  /**
   * Use the mirrors only for pulls by digest. On CRI-O a tag pull then goes to the upstream; on containerd only
   * the tag lookup does, and the content (fetched by digest) still comes from the mirrors.
   * @default false
   */
  readonly digestOnly?: boolean;
}

/**
 * Container runtimes this library renders configuration for. `k3s` and `rke2` are their embedded containerd, which
 * they configure themselves from `registries.yaml` at every start (see render/k3s.ts).
 */
export const RuntimeKind = { Containerd: "containerd", CriO: "cri-o", Docker: "docker", K3s: "k3s", Rke2: "rke2" } as const;
export type RuntimeKind = (typeof RuntimeKind)[keyof typeof RuntimeKind];

/** The runtime of one node, as far as it is known. */
export interface RuntimeInfo {
  /** Which runtime. */
  readonly kind: RuntimeKind;
  /** Its version, e.g. `1.6.20` or `2.1.4`, when known. Used to pick config schemas and to warn. */
  readonly version?: string;
}

/** Default locations of the files this library writes or edits, overridable per node. */
export interface NodePaths {
  /**
   * containerd's hosts directory (`config_path`).
   * @default "/etc/containerd/certs.d"
   */
  hostsDir: string;
  /**
   * containerd's main config.
   * @default "/etc/containerd/config.toml"
   */
  containerdConfig: string;
  /**
   * containers-registries.conf drop-in directory.
   * @default "/etc/containers/registries.conf.d"
   */
  registriesDir: string;
  /**
   * containers certificate directory (`<dir>/<host>/ca.crt`).
   * @default "/etc/containers/certs.d"
   */
  containersCertsDir: string;
  /**
   * containers-auth.json holding mirror credentials for CRI-O/podman/skopeo.
   * @default "/etc/containers/registry-mirrors-auth.json"
   */
  containersAuthFile: string;
  /**
   * Docker's daemon.json.
   * @default "/etc/docker/daemon.json"
   */
  dockerDaemonJson: string;
  /**
   * Docker's certificate directory (`<dir>/<host>/ca.crt`).
   * @default "/etc/docker/certs.d"
   */
  dockerCertsDir: string;
  /**
   * k3s's registries.yaml, read by k3s at every start.
   * @default "/etc/rancher/k3s/registries.yaml"
   */
  k3sRegistries: string;
  /**
   * RKE2's registries.yaml, read by RKE2 at every start.
   * @default "/etc/rancher/rke2/registries.yaml"
   */
  rke2Registries: string;
}

/** The defaults of {@link NodePaths}. */
export const DEFAULT_PATHS: Readonly<NodePaths> = Object.freeze({
  hostsDir: "/etc/containerd/certs.d",
  containerdConfig: "/etc/containerd/config.toml",
  registriesDir: "/etc/containers/registries.conf.d",
  containersCertsDir: "/etc/containers/certs.d",
  containersAuthFile: "/etc/containers/registry-mirrors-auth.json",
  dockerDaemonJson: "/etc/docker/daemon.json",
  dockerCertsDir: "/etc/docker/certs.d",
  k3sRegistries: "/etc/rancher/k3s/registries.yaml",
  rke2Registries: "/etc/rancher/rke2/registries.yaml",
});

/**
 * What to do with containerd's deprecated `registry.mirrors` / `registry.configs` tables in config.toml.
 * - `refuse` (default): stop with an error listing them and the ways out.
 * - `migrate`: move them into hosts.toml files, delete them from config.toml, set `config_path`.
 * - `write`: render our mirrors into the deprecated tables; never set `config_path`.
 */
export const LegacyMode = { Refuse: "refuse", Migrate: "migrate", Write: "write" } as const;
export type LegacyMode = (typeof LegacyMode)[keyof typeof LegacyMode];

/** One problem found in the input, with the field it concerns. */
export interface Problem {
  /** Field path, e.g. `mirrors[2].endpoints[0].url`. */
  path: string;
  /** What is wrong and what to do about it. */
  message: string;
}

/** The error thrown for bad input: lists every problem at once. */
export class RegistryMirrorsError extends Error {
  /** Every problem found, each with its field path. */
  readonly problems: Problem[];

  constructor(problems: Problem[], summary = "invalid registry mirror configuration") {
    super(`${summary}:\n${problems.map((p) => `  - ${p.path}: ${p.message}`).join("\n")}`);
    this.name = "RegistryMirrorsError";
    this.problems = problems;
  }
}
