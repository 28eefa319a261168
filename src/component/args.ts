import type * as pulumi from "@pulumi/pulumi";
import type * as model from "../model/types";
import type { Capability, LegacyMode, RuntimeInfo, RuntimeKind } from "../model/types";
import type { RuntimeAction } from "../model/runtimes";
import type { ProbeMode } from "../node/checks";
import type { ProbeResult } from "../node/protocol";

// These types are also the schema of the Pulumi package (package/, see its README): Pulumi's schema inference reads
// them. It takes interfaces, `as const` enums, `pulumi.Input<>`, arrays and `Record<string, …>`, and no other union,
// mapped type or inline object type; an interface's name is the type's name in every generated SDK (Go adds `Args`
// to input types, so none ends in `Args`), its JSDoc text is the description (tags such as `@default` are not,
// so defaults are said in the text as well). test/package/schema.test.ts compares the result with a golden file.

/** When nodes are read and verified: the component's `verify.when`. */
export const VerifyMode = {
  /** Read and verify a node only when its desired configuration changes. */
  OnChange: "onChange",
  /** Re-read every node on every `pulumi up` and fail when its files drifted. */
  Always: "always",
} as const;
export type VerifyMode = (typeof VerifyMode)[keyof typeof VerifyMode];

/**
 * `T` with every field (and every element and entry of its lists and maps) a Pulumi Input, so any of them may come
 * from another resource or be a secret. A homomorphic mapped type: the fields keep their documentation.
 */
export type Inputs<T> = T extends string | number | boolean
  ? T
  : T extends readonly (infer U)[]
    ? pulumi.Input<Inputs<U>>[]
    : { readonly [K in keyof T]: pulumi.Input<Inputs<T[K]>> };

/** Credentials sent to a mirror as HTTP basic auth. */
export interface BasicAuth {
  /** User name; must not be empty and must not contain `:`. */
  readonly username: pulumi.Input<string>;
  /** Password or token. Treated as secret everywhere. */
  readonly password: pulumi.Input<string>;
}

/** One place that serves images of an upstream registry; any field may come from another resource or be a secret. */
export interface MirrorEndpoint {
  /**
   * Endpoint URL with scheme, e.g. `https://mirror.internal:5000` or `http://10.0.0.5:5000`.
   * A path (e.g. `https://harbor.example.com/v2/dockerhub`) means the mirror serves the upstream under
   * that path; containerd then gets `override_path = true`.
   */
  readonly url: pulumi.Input<string>;
  /** What the endpoint is used for; `resolve` requires `pull`. Default: `["pull", "resolve"]`. */
  readonly capabilities?: pulumi.Input<pulumi.Input<Capability>[]>;
  /** PEM text of the CA certificate(s) that sign the mirror's TLS certificate. Default: the node's trust store. */
  readonly caCert?: pulumi.Input<string>;
  /** PEM text of a client certificate for mutual TLS; requires `clientKey`. */
  readonly clientCert?: pulumi.Input<string>;
  /** PEM text of the private key of `clientCert`; secret. Requires `clientCert`. */
  readonly clientKey?: pulumi.Input<string>;
  /** Do not verify the mirror's TLS certificate. Discouraged; prefer `caCert`. Default: `false`. */
  readonly skipVerify?: pulumi.Input<boolean>;
  /** Pull credentials for this mirror. Default: none. */
  readonly auth?: pulumi.Input<BasicAuth>;
  /** Extra HTTP headers sent to this mirror; their values are secret. Default: none. */
  readonly headers?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/** One mirrored upstream registry; any field may come from another resource or be a secret. */
export interface Mirror {
  /**
   * Registry host with optional port (`docker.io`, `gcr.io`, `registry.local:5000`), or `"*"` for every
   * registry that has no entry of its own. Never a scheme or a path.
   */
  readonly upstream: pulumi.Input<string>;
  /** Mirrors, tried in this order. At least one. */
  readonly endpoints: pulumi.Input<pulumi.Input<MirrorEndpoint>[]>;
  /**
   * When every mirror fails, pull from the upstream itself. `false`: the node never contacts the upstream for
   * this registry. Default: `true`.
   */
  readonly fallback?: pulumi.Input<boolean>;
  /**
   * Use the mirrors only for pulls by digest. On CRI-O a tag pull then goes to the upstream; on containerd only
   * the tag lookup does, and the content (fetched by digest) still comes from the mirrors. Default: `false`.
   */
  readonly digestOnly?: pulumi.Input<boolean>;
}

/** A mirror endpoint whose fields may come from other resources or secrets. */
export type MirrorEndpointArgs = MirrorEndpoint;

/** A mirrored upstream registry whose fields may be Inputs. */
export type MirrorArgs = Mirror;

/** How to log in over SSH, whatever the address: what a node's connection and its bastion's have in common. */
export interface SshLogin {
  /** The SSH port. An integer. Default: 22. */
  readonly port?: pulumi.Input<number>;
  /** The SSH user. Default: root. */
  readonly user?: pulumi.Input<string>;
  /** The password of the user. */
  readonly password?: pulumi.Input<string>;
  /** The contents of an SSH private key to log in with; takes preference over the password. */
  readonly privateKey?: pulumi.Input<string>;
  /** The password of an encrypted private key. */
  readonly privateKeyPassword?: pulumi.Input<string>;
  /** SSH agent socket path. Default: the environment variable SSH_AUTH_SOCK if present. */
  readonly agentSocketPath?: pulumi.Input<string>;
  /** Max allowed errors on trying to dial the host; -1 for unlimited. An integer. Default: 10. */
  readonly dialErrorLimit?: pulumi.Input<number>;
  /** Max number of seconds for each dial attempt; 0 for no maximum. An integer. Default: 15. */
  readonly perDialTimeout?: pulumi.Input<number>;
}

/** How a node is reached over SSH (`@pulumi/command`'s connection, with its host key required). */
export interface Connection extends SshLogin {
  /** The address of the node. */
  readonly host: pulumi.Input<string>;
  /**
   * The node's SSH public key line, e.g. `ssh-ed25519 AAAAC3Nza…`, or an Output of the resource that created the
   * machine. Required unless `insecureIgnoreHostKey`: a node presenting another key is refused before anything is
   * sent to it.
   */
  readonly hostKey?: pulumi.Input<string>;
  /** The bastion host the node is reached through. */
  readonly proxy?: pulumi.Input<ProxyConnection>;
}

/** How the bastion host in front of a node is reached over SSH. */
export interface ProxyConnection extends SshLogin {
  /** The address of the bastion host. */
  readonly host: pulumi.Input<string>;
  /** The bastion host's SSH public key line. Required unless the node sets `insecureIgnoreHostKey`. */
  readonly hostKey?: pulumi.Input<string>;
}

/** Overrides of the default file locations on one node; each unset field keeps its default. */
export interface NodePaths {
  /** containerd's hosts directory (`config_path`). Default: `/etc/containerd/certs.d`. */
  readonly hostsDir?: string;
  /** containerd's main config. Default: `/etc/containerd/config.toml`. */
  readonly containerdConfig?: string;
  /** containers-registries.conf drop-in directory. Default: `/etc/containers/registries.conf.d`. */
  readonly registriesDir?: string;
  /** containers certificate directory (`<dir>/<host>/ca.crt`). Default: `/etc/containers/certs.d`. */
  readonly containersCertsDir?: string;
  /**
   * containers-auth.json holding mirror credentials for CRI-O/podman/skopeo.
   * Default: `/etc/containers/registry-mirrors-auth.json`.
   */
  readonly containersAuthFile?: string;
  /** Docker's daemon.json. Default: `/etc/docker/daemon.json`. */
  readonly dockerDaemonJson?: string;
  /** Docker's certificate directory (`<dir>/<host>/ca.crt`). Default: `/etc/docker/certs.d`. */
  readonly dockerCertsDir?: string;
  /** k3s's registries.yaml, read by k3s at every start. Default: `/etc/rancher/k3s/registries.yaml`. */
  readonly k3sRegistries?: string;
  /** RKE2's registries.yaml, read by RKE2 at every start. Default: `/etc/rancher/rke2/registries.yaml`. */
  readonly rke2Registries?: string;
}

/** The runtime of a node, or `auto` to read it from the node. */
export const NodeRuntime = {
  /** Read the runtime from the node. */
  Auto: "auto",
  Containerd: "containerd",
  CriO: "cri-o",
  Docker: "docker",
  K3s: "k3s",
  Rke2: "rke2",
} as const;
export type NodeRuntime = (typeof NodeRuntime)[keyof typeof NodeRuntime];
// Every runtime kind is a node runtime (a kind added to RuntimeKind must be added above as well).
const _everyRuntimeKind: Record<RuntimeKind, NodeRuntime> = {
  containerd: "containerd",
  "cri-o": "cri-o",
  docker: "docker",
  k3s: "k3s",
  rke2: "rke2",
};
void _everyRuntimeKind;

/** One node to configure. */
export interface MirrorNode {
  /** Unique name of the node: used in resource names and in every message. Letters, digits, `.`, `_`, `-`. */
  readonly name: string;
  /**
   * How to reach the node over SSH: host, port, user, privateKey, hostKey, proxy. `hostKey` (and `proxy.hostKey`)
   * is required: the node's SSH public key line, e.g. `ssh-ed25519 AAAAC3Nza…`, or an Output of the resource that
   * created the machine. A node presenting another key is refused before anything is sent to it.
   */
  readonly connection: pulumi.Input<Connection>;
  /**
   * Connect without checking the SSH host key of the node and of its proxy. Whoever answers at the address then
   * receives the registry credentials; every preview and update warns, and the node's report says so.
   * Default: `false`.
   */
  readonly insecureIgnoreHostKey?: boolean;
  /**
   * The node's container runtime: `containerd`, `cri-o`, `docker`, `k3s` or `rke2` (their embedded containerd, which
   * they configure from registries.yaml at each start: the plan edits registries.yaml and restarts `k3s`/`k3s-agent`
   * or `rke2-server`/`rke2-agent`); `auto` reads it from the node (k3s and RKE2 are looked for first). Giving it lets
   * `pulumi preview --diff` show every file even before the node was read, and lets a mirrors-only change skip the
   * read (one SSH session instead of two): with `auto` the node may be a Docker or k3s node, whose daemon.json or
   * registries.yaml holds the mirrors.
   * Default: `auto`.
   */
  readonly runtime?: NodeRuntime;
  /** Run commands through `sudo -n`. Default: only when the SSH user is not root. */
  readonly sudo?: boolean;
  /** Overrides of the default file locations on this node. */
  readonly paths?: NodePaths;
  /** What to do with containerd's deprecated mirror tables in config.toml. Default: the component's `legacy`. */
  readonly legacy?: LegacyMode;
  /** This node's probe mode. Default: the component's `probe`. */
  readonly probe?: ProbeMode;
  /** This node's checks after the apply (its own proof image, or none). Default: the component's `verify`. */
  readonly verify?: NodeVerify;
}

/** One node to configure. */
export type MirrorNodeArgs = MirrorNode;

/** Checks after an apply that can differ per node. */
export interface NodeVerify {
  /**
   * Ask the running runtime what it loaded (containerd: `crictl info`'s `configPath`; Docker: `docker info`'s
   * registry mirrors) and roll the node back when it does not use what was written. Default: `true`.
   */
  readonly effectiveConfig?: boolean;
  /**
   * Pull this image (by tag or digest, e.g. `docker.io/library/busybox:1.36`) through the mirrors alone after the
   * apply, report its digest and the endpoint that served it, remove it again, and roll the node back when no mirror
   * serves it. Its registry must be one of the mirrored upstreams (or `*`). `""` turns off a component-wide image.
   * Default: none.
   */
  readonly pull?: string;
}

/** Checks after an apply that can differ per node. */
export type NodeVerifyArgs = NodeVerify;

/** Checks after an apply (the runtime's own view, a proof pull) and when nodes are read again. */
export interface Verify extends NodeVerify {
  /**
   * `onChange`: read and verify a node only when its desired configuration changes (no SSH session otherwise).
   * `always`: re-read every node on every `pulumi up` and fail when its files drifted. Default: `onChange`.
   */
  readonly when?: VerifyMode;
}

/** Checks after an apply and when nodes are read again. */
export type VerifyArgs = Verify;

/** Staged rollout settings. */
export interface Rollout {
  /** At most this many nodes restart their runtime at the same time. An integer. Default: 1. */
  readonly maxParallelRestarts?: number;
}

/** Staged rollout settings. */
export type RolloutArgs = Rollout;

/** What the components that configure nodes over SSH share: the rollout, the checks, ownership. */
export interface SshComponentSettings {
  /** How restarts are spread over the nodes. Default: one node at a time. */
  readonly rollout?: Rollout;
  /**
   * When nodes are read (`when`: `onChange` or `always`) and the checks after each apply (the runtime's own view, a
   * proof pull). Default: `onChange`, with the runtime's view checked and no proof pull.
   */
  readonly verify?: Verify;
  /**
   * Before anything is written on a node, every mirror endpoint it will use is asked for `GET /v2/` from the node,
   * with the TLS settings and credentials the runtime will use (curl or GNU wget on the node, 10 s per endpoint).
   * `error`: an endpoint that does not answer as a registry fails the node, nothing written. `warn`: a failure is a
   * warning for mirrors with fallback (their pulls fall back), an error without. `off`: no probe. Default: `error`.
   */
  readonly probe?: ProbeMode;
  /** Default for every node's `legacy`. Default: `refuse`. */
  readonly legacy?: LegacyMode;
  /** Seconds a runtime gets to answer after a restart before the node is rolled back. An integer. Default: 30. */
  readonly healthTimeoutSeconds?: number;
  /**
   * Ids (`project/stack/name`) of other instances whose files this one may take over where both configure the same
   * path, e.g. when an upstream moves from a team stack into a base stack. Without it such a path is a conflict
   * error naming the other instance, and nothing is written. Earlier instances of this stack (this component before
   * a rename or a move) are handed over to without it. Default: none.
   */
  readonly takeOver?: string[];
}

/** Arguments of the RegistryMirrors component. */
export interface RegistryMirrorsArgs extends SshComponentSettings {
  /** The mirrors to configure on every node. */
  readonly mirrors: pulumi.Input<pulumi.Input<Mirror>[]>;
  /**
   * The nodes to configure. The list and each node's name, runtime and options are known when the program runs
   * (they decide which resources exist); a node's connection may come from other resources or secrets.
   */
  readonly nodes: pulumi.Input<MirrorNode>[];
}

/** Whether a node's SSH host key was checked. */
export const HostKeyCheck = {
  /** The node proved it holds the pinned key. */
  Pinned: "pinned",
  /** Not checked (`insecureIgnoreHostKey`). */
  NotChecked: "not checked",
} as const;
export type HostKeyCheck = (typeof HostKeyCheck)[keyof typeof HostKeyCheck];

/** What a node's runtime needed after an apply. */
export const RuntimeChange = {
  /** Nothing: the runtime reads the files on its own. */
  None: "none",
  /** A reload (SIGHUP) of the same process. */
  Reload: "reload",
  /** A restart of the runtime. */
  Restart: "restart",
} as const;
export type RuntimeChange = (typeof RuntimeChange)[keyof typeof RuntimeChange];
const _sameActions: Record<RuntimeAction, RuntimeChange> = { none: "none", reload: "reload", restart: "restart" };
void _sameActions;

/** How a mirror endpoint answered its probe. */
export const ProbeOutcome = { Ok: "ok", Warn: "warn", Fail: "fail", Skipped: "skipped" } as const;
export type ProbeOutcome = (typeof ProbeOutcome)[keyof typeof ProbeOutcome];

/** One mirror endpoint's probe from a node before an apply. */
export interface ProbeReport {
  /** The endpoint's URL. */
  readonly endpoint: string;
  /** How it answered. */
  readonly result: ProbeOutcome;
  /** How long it took, in milliseconds. An integer. */
  readonly latencyMs: number;
  /** What the node saw (HTTP status, error). */
  readonly detail: string;
}

/** The proof pull of an apply. */
export interface ProofReport {
  /** The image pulled. */
  readonly image: string;
  /** Its digest. */
  readonly digest: string;
  /** The mirror endpoint that served it. */
  readonly servedBy: string;
}

/** What happened on one node. */
export interface NodeReport {
  /** The node's name. */
  readonly node: string;
  /** Runtime kind and version seen on the node. */
  readonly runtime: RuntimeInfo;
  /** Files this tool manages on the node. */
  readonly files: string[];
  /** Files written by the last apply. */
  readonly written: string[];
  /** Files removed or restored by the last apply. */
  readonly removed: string[];
  /** What the runtime needed: `none`, `reload` or `restart`. */
  readonly action: RuntimeChange;
  /** `ok`, or what differed when the written files were read back. */
  readonly verification: string;
  /** `pinned` (the node proved it holds the pinned key) or `not checked` (`insecureIgnoreHostKey`). */
  readonly hostKey: HostKeyCheck;
  /** Things to know about this node. */
  readonly warnings: string[];
  /** Per mirror endpoint, its probe from the node before the last apply (none with `probe: "off"`). */
  readonly probes: ProbeReport[];
  /** What the running runtime reported after the last apply, or `not asked`. */
  readonly effective: string;
  /** The proof pull of the last apply: the image, its digest and the endpoint that served it. */
  readonly proof?: ProofReport;
}

// The Input forms accept every plain spec; probe results are reports.
const _mirrorsAccepted = (m: model.Mirror, p: ProbeResult): [Mirror, ProbeReport] => [m, p];
void _mirrorsAccepted;
