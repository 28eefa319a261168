import type { RuntimeAction } from "../model/runtimes";
import type { LegacyMode, Mirror, NodePaths, RuntimeInfo } from "../model/types";

/** Input of {@link renderNodeConfig}. */
export interface RenderInput {
  /** The mirrors to configure; validated before anything is rendered. */
  mirrors: Mirror[];
  /** The node's runtime. */
  runtime: RuntimeInfo;
  /**
   * Current text of the runtime's main config file (containerd config.toml, Docker daemon.json), when known.
   * `undefined` means "not read"; an empty string means "the file is absent or empty".
   */
  liveConfig?: string;
  /** Overrides of the default file locations. */
  paths?: Partial<NodePaths>;
  /**
   * containerd: `fixed` points config_path at `paths.hostsDir` whatever config.toml names; `adopt` keeps the
   * directory config.toml names (a `:` list reduced to its first) and uses `paths.hostsDir` only when it names none.
   * The component uses `fixed`, so every file path is known before a node is read. Default: `fixed` when
   * `paths.hostsDir` is given, else `adopt`.
   */
  hostsDir?: "adopt" | "fixed";
  /** What to do with containerd's deprecated mirror tables. Default `refuse`. */
  legacy?: LegacyMode;
  /**
   * Files this tool owns on the node (path → content), as read from the node. Lets hosts.toml files migrated
   * from legacy config.toml entries on an earlier run stay in the plan once config.toml no longer has them.
   */
  ownedFiles?: Record<string, string>;
}

/** One file to write. */
export interface PlannedFile {
  /** Absolute path on the node. */
  path: string;
  /** Exact content. */
  content: string;
  /** Octal file mode, e.g. `0o644`; `0o600` for anything holding secrets. */
  mode: number;
  /** True when the content holds a secret (credentials, private key). */
  secret?: boolean;
}

/** What the runtime needs after the files are in place (the rule per runtime is in model/runtimes.ts). */
export type { RuntimeAction };

/** The complete configuration plan for one node. */
export interface NodePlan {
  /** Files this tool owns and writes, sorted by path. */
  files: PlannedFile[];
  /**
   * The new main config, or `undefined` when it needs no change. It always travels on the apply's secret stdin (it
   * may hold credentials). Owned files the plan no longer has are removed by the node agent from its manifest.
   */
  mainConfig?: {
    path: string;
    content: string;
    /** Octal mode to give the file (`0o600` when it holds credentials); without it an existing file keeps its own (new ones get 0644). */
    mode?: number;
  };
  /** What the runtime needs afterwards. */
  action: RuntimeAction;
  /** Things a person should know (nothing fatal). */
  warnings: string[];
}
