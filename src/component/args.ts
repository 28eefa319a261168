import type * as pulumi from "@pulumi/pulumi";
import type * as command from "@pulumi/command";
import type { LegacyMode, Mirror, MirrorEndpoint, NodePaths, RuntimeInfo, RuntimeKind } from "../model/types";
import type { RuntimeAction } from "../model/runtimes";
import type { ProbeMode } from "../node/checks";
import type { ProbeResult } from "../node/protocol";

/** When nodes are read and verified: see {@link RegistryMirrorsArgs.verify}. */
export const VerifyMode = { OnChange: "onChange", Always: "always" } as const;
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

/** A mirror endpoint whose fields may come from other resources or secrets: {@link MirrorEndpoint} as Inputs. */
export type MirrorEndpointArgs = Inputs<MirrorEndpoint>;

/** A mirrored upstream registry whose fields may be Inputs: {@link Mirror} as Inputs. */
export type MirrorArgs = Inputs<Mirror>;

/** The runtime of a node, or `auto` to read it from the node. */
export type NodeRuntime = RuntimeKind | "auto";

/** One node to configure. */
export interface MirrorNodeArgs {
  /** Unique name of the node: used in resource names and in every message. Letters, digits, `.`, `_`, `-`. */
  readonly name: string;
  /**
   * How to reach the node over SSH: `@pulumi/command`'s connection (host, port, user, privateKey, hostKey, proxy…).
   * `hostKey` (and `proxy.hostKey`) is required: the node's SSH public key line, e.g. `ssh-ed25519 AAAAC3Nza…`,
   * or an Output of the resource that created the machine. A node presenting another key is refused before
   * anything is sent to it.
   */
  readonly connection: pulumi.Input<command.types.input.remote.ConnectionArgs>;
  /**
   * Connect without checking the SSH host key of the node and of its proxy. Whoever answers at the address then
   * receives the registry credentials; every preview and update warns, and the node's report says so.
   * @default false
   */
  readonly insecureIgnoreHostKey?: boolean;
  /**
   * The node's container runtime: `containerd`, `cri-o`, `docker`, `k3s` or `rke2` (their embedded containerd, which
   * they configure from registries.yaml at each start: the plan edits registries.yaml and restarts `k3s`/`k3s-agent`
   * or `rke2-server`/`rke2-agent`); `auto` reads it from the node (k3s and RKE2 are looked for first). Giving it lets
   * `pulumi preview --diff` show every file even before the node was read, and lets a mirrors-only change skip the
   * read (one SSH session instead of two): with `auto` the node may be a Docker or k3s node, whose daemon.json or
   * registries.yaml holds the mirrors.
   * @default "auto"
   */
  readonly runtime?: NodeRuntime;
  /**
   * Run commands through `sudo -n`.
   * @default only when the SSH user is not root
   */
  readonly sudo?: boolean;
  /** Overrides of the default file locations on this node. @default `DEFAULT_PATHS` */
  readonly paths?: Partial<NodePaths>;
  /**
   * What to do with containerd's deprecated mirror tables in config.toml.
   * @default the component's `legacy`
   */
  readonly legacy?: LegacyMode;
  /** This node's probe mode. @default the component's `probe` */
  readonly probe?: ProbeMode;
  /** This node's checks after the apply (its own proof image, or none). @default the component's `verify` */
  readonly verify?: NodeVerifyArgs;
}

/** Checks after an apply that can differ per node. */
export interface NodeVerifyArgs {
  /**
   * Ask the running runtime what it loaded (containerd: `crictl info`'s `configPath`; Docker: `docker info`'s
   * registry mirrors) and roll the node back when it does not use what was written.
   * @default true
   */
  readonly effectiveConfig?: boolean;
  /**
   * Pull this image (by tag or digest, e.g. `docker.io/library/busybox:1.36`) through the mirrors alone after the
   * apply, report its digest and the endpoint that served it, remove it again, and roll the node back when no mirror
   * serves it. Its registry must be one of the mirrored upstreams (or `*`). `""` turns off a component-wide image.
   * @default none
   */
  readonly pull?: string;
}

/** Checks after an apply: {@link NodeVerifyArgs} and when nodes are read again. */
export interface VerifyArgs extends NodeVerifyArgs {
  /** When nodes are read and their files compared: see {@link RegistryMirrorsArgs.verify}. @default "onChange" */
  readonly when?: VerifyMode;
}

/** Staged rollout settings. */
export interface RolloutArgs {
  /**
   * At most this many nodes restart their runtime at the same time.
   * @default 1
   */
  readonly maxParallelRestarts?: number;
}

/** Arguments of {@link RegistryMirrors}. */
export interface RegistryMirrorsArgs {
  /** The mirrors to configure on every node. */
  readonly mirrors: pulumi.Input<pulumi.Input<MirrorArgs>[]>;
  /** The nodes to configure. */
  readonly nodes: MirrorNodeArgs[];
  /** How restarts are spread over the nodes. @default one node at a time */
  readonly rollout?: RolloutArgs;
  /**
   * `onChange`: read and verify a node only when its desired configuration changes (no SSH session otherwise).
   * `always`: re-read every node on every `pulumi up` and fail when its files drifted.
   * Or {@link VerifyArgs}: that (`when`) and the checks after each apply (the runtime's own view, a proof pull).
   * @default "onChange", with the runtime's view checked and no proof pull
   */
  readonly verify?: VerifyMode | VerifyArgs;
  /**
   * Before anything is written on a node, every mirror endpoint it will use is asked for `GET /v2/` from the node,
   * with the TLS settings and credentials the runtime will use (curl or GNU wget on the node, 10 s per endpoint).
   * `error`: an endpoint that does not answer as a registry fails the node, nothing written. `warn`: a failure is a
   * warning for mirrors with fallback (their pulls fall back), an error without. `off`: no probe.
   * @default "error"
   */
  readonly probe?: ProbeMode;
  /**
   * Default for every node's `legacy`.
   * @default "refuse"
   */
  readonly legacy?: LegacyMode;
  /**
   * Seconds a runtime gets to answer after a restart before the node is rolled back.
   * @default 30
   */
  readonly healthTimeoutSeconds?: number;
  /**
   * Ids (`project/stack/name`) of other instances whose files this one may take over where both configure the same
   * path, e.g. when an upstream moves from a team stack into a base stack. Without it such a path is a conflict
   * error naming the other instance, and nothing is written. Earlier instances of this stack (this component before
   * a rename or a move) are handed over to without it.
   * @default []
   */
  readonly takeOver?: string[];
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
  readonly action: RuntimeAction;
  /** `ok`, or what differed when the written files were read back. */
  readonly verification: string;
  /** `pinned` (the node proved it holds the pinned key) or `not checked` (`insecureIgnoreHostKey`). */
  readonly hostKey: "pinned" | "not checked";
  /** Things to know about this node. */
  readonly warnings: string[];
  /** Per mirror endpoint, its probe from the node before the last apply (none with `probe: "off"`). */
  readonly probes: ProbeResult[];
  /** What the running runtime reported after the last apply, or `not asked`. */
  readonly effective: string;
  /** The proof pull of the last apply: the image, its digest and the endpoint that served it. */
  readonly proof?: { readonly image: string; readonly digest: string; readonly servedBy: string };
}
