import type * as pulumi from "@pulumi/pulumi";
import type * as command from "@pulumi/command";
import type { Capability, LegacyMode, NodePaths, RuntimeKind } from "../model/types";

/** A mirror endpoint whose fields may come from other resources or secrets. See {@link MirrorEndpoint}. */
export interface MirrorEndpointArgs {
  /** Endpoint URL with scheme; a path means the mirror serves the upstream under that path. */
  url: pulumi.Input<string>;
  /** `pull`, `resolve`, `push`; default pull+resolve. */
  capabilities?: pulumi.Input<pulumi.Input<Capability>[]>;
  /** PEM of the CA that signs the mirror's certificate. */
  caCert?: pulumi.Input<string>;
  /** PEM client certificate (mutual TLS). */
  clientCert?: pulumi.Input<string>;
  /** PEM private key of `clientCert`; always treated as secret. */
  clientKey?: pulumi.Input<string>;
  /** Do not verify the mirror's certificate. */
  skipVerify?: pulumi.Input<boolean>;
  /** Pull credentials; the password is always treated as secret. */
  auth?: pulumi.Input<{ username: pulumi.Input<string>; password: pulumi.Input<string> }>;
  /** Extra HTTP headers; their values are always treated as secret. */
  headers?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/** A mirrored upstream registry whose fields may be Inputs. See {@link Mirror}. */
export interface MirrorArgs {
  /** Registry host with optional port, or `"*"` for every registry. */
  upstream: pulumi.Input<string>;
  /** Mirrors, tried in order. */
  endpoints: pulumi.Input<pulumi.Input<MirrorEndpointArgs>[]>;
  /** Fall back to the upstream when every mirror fails (default true). */
  fallback?: pulumi.Input<boolean>;
  /** Use the mirrors only for pulls by digest. */
  digestOnly?: pulumi.Input<boolean>;
}

/** The runtime of a node, or `auto` to read it from the node. */
export type NodeRuntime = RuntimeKind | "auto";

/** One node to configure. */
export interface MirrorNodeArgs {
  /** Unique name of the node: used in resource names and in every message. Letters, digits, `.`, `_`, `-`. */
  name: string;
  /**
   * How to reach the node over SSH: `@pulumi/command`'s connection (host, port, user, privateKey, hostKey, proxy…).
   * `hostKey` (and `proxy.hostKey`) is required: the node's SSH public key line, e.g. `ssh-ed25519 AAAAC3Nza…`,
   * or an Output of the resource that created the machine. A node presenting another key is refused before
   * anything is sent to it.
   */
  connection: pulumi.Input<command.types.input.remote.ConnectionArgs>;
  /**
   * Connect without checking the SSH host key of the node and of its proxy. Whoever answers at the address then
   * receives the registry credentials; every preview and update warns, and the node's report says so.
   * @default false
   */
  insecureIgnoreHostKey?: boolean;
  /**
   * The node's container runtime. Default `auto`: read from the node. Giving it lets `pulumi preview --diff`
   * show every file even before the node was read, and lets a mirrors-only change skip the read (one SSH session
   * instead of two): with `auto` the node may be a Docker node, whose daemon.json holds the mirrors.
   */
  runtime?: NodeRuntime;
  /** Run commands through `sudo -n`. Default: only when the SSH user is not root. */
  sudo?: boolean;
  /** Overrides of the default file locations on this node. */
  paths?: Partial<NodePaths>;
  /** What to do with containerd's deprecated mirror tables in config.toml. Default: the component's `legacy`. */
  legacy?: LegacyMode;
}

/** Staged rollout settings. */
export interface RolloutArgs {
  /** At most this many nodes restart their runtime at the same time. Default 1. */
  maxParallelRestarts?: number;
}

/** Arguments of {@link RegistryMirrors}. */
export interface RegistryMirrorsArgs {
  /** The mirrors to configure on every node. */
  mirrors: pulumi.Input<pulumi.Input<MirrorArgs>[]>;
  /** The nodes to configure. */
  nodes: MirrorNodeArgs[];
  /** How restarts are spread over the nodes. */
  rollout?: RolloutArgs;
  /**
   * `onChange` (default): read and verify a node only when its desired configuration changes (no SSH session
   * otherwise). `always`: re-read every node on every `pulumi up` and fail when its files drifted.
   */
  verify?: "onChange" | "always";
  /** Default for every node's `legacy`. Default `refuse`. */
  legacy?: LegacyMode;
  /** Seconds a runtime gets to answer after a restart before the node is rolled back. Default 30. */
  healthTimeoutSeconds?: number;
  /**
   * Ids (`project/stack/name`) of other instances whose files this one may take over where both configure the same
   * path, e.g. when an upstream moves from a team stack into a base stack. Without it such a path is a conflict
   * error naming the other instance, and nothing is written. Earlier instances of this stack (this component before
   * a rename or a move) are handed over to without it.
   * @default []
   */
  takeOver?: string[];
}

/** What happened on one node. */
export interface NodeReport {
  /** The node's name. */
  node: string;
  /** Runtime kind and version seen on the node. */
  runtime: { kind: RuntimeKind; version?: string };
  /** Files this tool manages on the node. */
  files: string[];
  /** Files written by the last apply. */
  written: string[];
  /** Files removed or restored by the last apply. */
  removed: string[];
  /** What the runtime needed: `none`, `reload` or `restart`. */
  action: "none" | "reload" | "restart";
  /** `ok`, or what differed when the written files were read back. */
  verification: string;
  /** `pinned` (the node proved it holds the pinned key) or `not checked` (`insecureIgnoreHostKey`). */
  hostKey: "pinned" | "not checked";
  /** Things to know about this node. */
  warnings: string[];
}
