/**
 * Builds the commands that run on a node (read, apply, remove) and parses what they print. Non-secret file
 * contents are embedded in the command as readable heredocs, so `pulumi preview --diff` shows them; secret
 * contents (credentials, private keys, a main config that may hold credentials) travel on stdin.
 */
import { DETECTION_ORDER, isRancherDistribution, mainConfigPath, RUNTIME_FACTS, type RuntimeAction } from "../model/runtimes";
import type { NodePaths, RuntimeKind, RuntimeInfo } from "../model/types";
import { parseRuntimeVersion } from "../model/version";
import type { NodePlan, PlannedFile } from "../render/types";
import { AGENT_CHECKS, APPLY_COMMIT, APPLY_STAGE, APPLY_STAGE_DYNAMIC, AGENT_LIBRARY, READ_MAIN, REMOVE_MAIN } from "./agent";
import {
  criSocket,
  PROBE_BUDGET_SECONDS,
  PROBE_TIMEOUT_SECONDS,
  PROOF_TIMEOUT_SECONDS,
  probeConfigs,
  type ProbeTarget,
  type ProofPlan,
} from "./checks";
import { runtimeControl, STATE_DIR, type RuntimeControl } from "./runtime";
import { asRoot, heredocDelimiter, sha256, shq } from "./shell";

/** Who runs the command and where. */
export interface NodeTarget {
  /** Node name, used in every message. */
  node: string;
  /**
   * An environment variable that names the node at run time, `node` being the fallback: one in-cluster script
   * serves every node, and its pod knows the node's name (`NODE_NAME` from the downward API). Default: none.
   */
  nodeNameVariable?: string;
  /** Run through `sudo -n`; default: only when the SSH user is not root. */
  sudo?: boolean;
  /** Where the manifest and backups live on the node. Default {@link STATE_DIR}. */
  stateDir?: string;
  /** Overrides of how the runtime is driven (e.g. a health check for a socket in another place). */
  control?: Partial<RuntimeControl>;
  /** How to make the node be read again, named when its main config changed since the read. */
  reread?: string;
  /** Seconds a run waits for another registry-mirrors run on the node to finish. Default {@link DEFAULT_LOCK_TIMEOUT}. */
  lockTimeoutSeconds?: number;
  /** The instance whose files these are. Default: the one ownerless instance of earlier versions (`-`). */
  owner?: InstanceOwner;
}

/**
 * Who owns what a run writes: several instances (components, in one stack or in several) may configure one node.
 * An id is `project/stack/name#hash`, the hash telling apart two components of one name under different parents.
 */
export interface InstanceOwner {
  /** This instance's id. */
  id: string;
  /** Owners starting with this (`project/stack/`) are earlier instances of the same stack: their paths are handed over. */
  peers?: string;
  /** Ids (without `#hash`) whose paths this instance may take over. */
  takeOver?: string[];
  /** Ids (without `#hash`) this instance had before (its aliases): what they own is this instance's. */
  retire?: string[];
}

/** What a manifest or a message may hold as an instance id: no spaces, commas or quotes. */
export const INSTANCE_ID_PATTERN = /^[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+(#[0-9a-f]+)?$/;

/** Seconds a run waits for another run on the same node: long enough for its restart, health wait and rollback. */
export const DEFAULT_LOCK_TIMEOUT = 600;

/** Seconds a runtime gets to answer after a restart or reload. */
export const DEFAULT_HEALTH_TIMEOUT = 30;

function header(target: NodeTarget, vars: Record<string, string>): string {
  const nodeVar = target.nodeNameVariable;
  if (nodeVar !== undefined && (!/^[A-Z_][A-Z0-9_]*$/.test(nodeVar) || !/^[A-Za-z0-9._-]+$/.test(target.node))) {
    throw new Error(`node ${target.node}: nodeNameVariable needs a variable name (A-Z, 0-9, _) and a plain fallback name`);
  }
  const node = nodeVar === undefined ? shq(target.node) : `"\${${nodeVar}:-${target.node}}"`;
  const lines = [`NODE=${node}`, `STATE=${shq(target.stateDir ?? STATE_DIR)}`, `RUN=""`, `COMMITTED=""`];
  lines.push(`REREAD=${shq(target.reread ?? "run its read command again")}`);
  // How the runtime's service is driven: systemd's systemctl unless the node has another (the lab's cluster node).
  lines.push(`SYSTEMCTL=${shq(target.control?.systemctl ?? "systemctl")}`);
  lines.push(`LOCK=""`, `LOCKED=""`, `LOCK_TIMEOUT=${Math.max(0, Math.floor(target.lockTimeoutSeconds ?? DEFAULT_LOCK_TIMEOUT))}`);
  const owner = target.owner;
  const ids = [owner?.id ?? "-", ...(owner?.takeOver ?? []), ...(owner?.retire ?? [])];
  const bad = ids.filter((id) => id !== "-" && !INSTANCE_ID_PATTERN.test(id));
  if (bad.length > 0 || (owner?.peers !== undefined && !/^[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+\/$/.test(owner.peers))) {
    throw new Error(`node ${target.node}: invalid instance ids ${JSON.stringify(bad)} (project/stack/name)`);
  }
  lines.push(`OWNER=${shq(owner?.id ?? "-")}`, `PEERS=${shq(owner?.peers ?? "")}`, `TAKEOVER=${shq((owner?.takeOver ?? []).join(" "))}`);
  lines.push(`RETIRE=${shq((owner?.retire ?? []).join(" "))}`, `ALONE=""`);
  for (const [k, v] of Object.entries(vars)) lines.push(`${k}=${shq(v)}`);
  return lines.join("\n");
}

/** The command that reads a node. `kind` undefined means detect it. */
export function readCommand(target: NodeTarget, paths: NodePaths, kind?: RuntimeKind): string {
  const script = [
    // Per runtime, in detection order: kind, binary, main config (`-` for none).
    header(target, {
      WANT_KIND: kind ?? "auto",
      RUNTIMES: DETECTION_ORDER.map((k) => `${k} ${RUNTIME_FACTS[k].binary} ${mainConfigPath(k, paths) ?? "-"}`).join(" "),
    }),
    AGENT_LIBRARY,
    READ_MAIN,
  ].join("\n");
  return asRoot(script, target);
}

/** What a read found on the node. */
export interface NodeState {
  runtime: RuntimeInfo;
  /** The `--version` line as printed. */
  versionLine: string;
  /** Main config content (`""` when absent) and its sha256 (`absent` when there is no file). */
  mainConfig?: { path: string; sha256: string; content: string };
  /** Lines of the on-node manifest. */
  manifest: string[];
  /** Owned hosts.toml files and their content. */
  ownedFiles: Record<string, string>;
  /** Owned files: what was written (sha256), what is on disk now (`absent` if gone) and who owns them. */
  owned: { kind: "f" | "m"; path: string; written: string; current: string; owners: string[] }[];
}

/** Splits agent output into single lines and base64 blocks. */
function parseBlocks(stdout: string): { lines: string[]; blocks: Map<string, string> } {
  const lines: string[] = [];
  const blocks = new Map<string, string>();
  const all = stdout.split("\n");
  for (let i = 0; i < all.length; i++) {
    const line = all[i];
    if (/^RM-(CONTENT|MANIFEST|OWNED|READBACK)\b/.test(line)) {
      const body: string[] = [];
      for (i += 1; i < all.length && all[i] !== "RM-END"; i++) body.push(all[i]);
      blocks.set(line, Buffer.from(body.join(""), "base64").toString("utf8"));
    } else if (line.startsWith("RM-")) lines.push(line);
  }
  return { lines, blocks };
}

/** Parses the output of {@link readCommand}. */
export function parseReadOutput(stdout: string): NodeState {
  const { lines, blocks } = parseBlocks(stdout);
  const value = (tag: string): string | undefined => lines.find((l) => l.startsWith(`${tag} `))?.slice(tag.length + 1);
  const kind = value("RM-RUNTIME") as RuntimeKind | undefined;
  if (!kind) throw new Error(`the node read printed no runtime:\n${stdout.slice(0, 2000)}`);
  const versionLine = value("RM-VERSION") ?? "";
  let runtime: RuntimeInfo = { kind };
  try {
    const parsed = parseRuntimeVersion(versionLine);
    if (parsed.kind === kind) runtime = parsed;
  } catch {
    // An unreadable version line leaves the version unknown; renderers then warn.
  }
  const main = value("RM-MAIN");
  let mainConfig: NodeState["mainConfig"];
  if (main) {
    const space = main.indexOf(" ");
    const sha = main.slice(0, space);
    mainConfig = { sha256: sha, path: main.slice(space + 1), content: sha === "absent" ? "" : (blocks.get("RM-CONTENT") ?? "") };
  }
  const manifest = (blocks.get("RM-MANIFEST") ?? "").split("\n").filter((l) => l !== "");
  const ownedFiles: Record<string, string> = {};
  for (const [key, content] of blocks) if (key.startsWith("RM-OWNED ")) ownedFiles[key.slice("RM-OWNED ".length)] = content;
  const current = new Map(
    lines
      .filter((l) => l.startsWith("RM-SHA "))
      .map((l) => {
        const [, sha, ...path] = l.split(" ");
        return [path.join(" "), sha] as const;
      }),
  );
  const owned = manifest
    .map((l) => l.split(" "))
    .filter(([kind]) => kind === "f" || kind === "m")
    .map(([kind, path, , written, owners]) => ({
      kind: kind as "f" | "m",
      path,
      written,
      current: current.get(path) ?? "absent",
      owners: (owners ?? "-").split(","),
    }));
  return { runtime, versionLine, mainConfig, manifest, ownedFiles, owned };
}

/** Input of {@link applyCommand}. */
export interface ApplyInput extends NodeTarget {
  runtime: RuntimeKind;
  paths: NodePaths;
  plan: NodePlan;
  /** The main config the plan was computed from (sha256 `absent` for no file); required with `plan.mainConfig`. */
  readMain?: ReadMainConfig;
  healthTimeoutSeconds?: number;
  /** Probes before writing, the runtime's own view and the proof pull after. Default: none. */
  checks?: ApplyChecks;
}

/**
 * What an apply checks beyond its own files. The probes and the proof's files travel on stdin (they hold
 * credentials); the runtime question and the proof's image are in the command, readable in previews.
 */
export interface ApplyChecks {
  /** Endpoints to probe before anything is written. */
  probes?: ProbeTarget[];
  /**
   * The runtime's own view to compare with: `containerd <hosts dir>`, `docker <mirror url>…` or `cri-o`. Default:
   * not asked.
   */
  effective?: string;
  /** The proof pull. */
  proof?: ProofPlan;
  /** CRI-O: the auth file the proof pull uses. */
  authFile?: string;
  /** Seconds per probe. Default {@link PROBE_TIMEOUT_SECONDS}. */
  probeTimeoutSeconds?: number;
}

/** The apply command (readable) and its stdin (secret contents). */
export interface ApplyCommand {
  command: string;
  stdin: string;
}

/** Builds the command and stdin that write a plan, restart if needed, verify, and roll back on failure. */
export function applyCommand(input: ApplyInput): ApplyCommand {
  return { command: applyScript(input, input.plan.files), stdin: applyStdin(input.plan, input.readMain, input.plan.files, input.checks) };
}

/**
 * The apply script for files known in advance (rendered from the spec alone, so a preview can show them).
 * Everything that depends on what was read from the node (the main config, its expected hash, the action,
 * files migrated from it) comes from {@link applyStdin}.
 */
export function applyScript(
  target: NodeTarget & { runtime: RuntimeKind; paths: NodePaths; healthTimeoutSeconds?: number; checks?: ApplyChecks },
  files: PlannedFile[],
): string {
  const control = { ...runtimeControl(target.runtime), ...target.control };
  const staging: string[] = [];
  for (const file of files) {
    const p = shq(file.path);
    const want = sha256(file.content);
    const temp = shq(`${file.path}.rm-new`);
    const cannot = shq(`cannot write ${file.path} (disk full?)`);
    if (file.secret) {
      // Content and hash travel on stdin only: even a hash of a credential file must not be in the command.
      staging.push(`# ${file.path} (mode ${file.mode.toString(8)}): secret, written from stdin`);
      continue;
    }
    staging.push(`new_file ${p}`);
    if (file.content.endsWith("\n")) {
      const delimiter = heredocDelimiter(file.content);
      staging.push(`cat > ${temp} <<'${delimiter}' || fail stage ${cannot}`, `${file.content}${delimiter}`);
    } else {
      staging.push(`printf '%s' ${shq(file.content)} > ${temp} || fail stage ${cannot}`);
    }
    staging.push(`stage f ${p} ${file.mode.toString(8)} ${want}`);
  }
  const script = [
    header(target, {
      UNIT: control.unit,
      HEALTH: control.healthCheck,
      HEALTH_TIMEOUT: String(target.healthTimeoutSeconds ?? DEFAULT_HEALTH_TIMEOUT),
      // containerd and Docker need their action only when the main config changes; CRI-O on any change.
      RESTART_ON: RUNTIME_FACTS[target.runtime].onFiles === "none" ? "main-config" : "any-file",
      PROBE_TOOL: "",
      PROBE_TIMEOUT: String(target.checks?.probeTimeoutSeconds ?? PROBE_TIMEOUT_SECONDS),
      PROBE_BUDGET: String(PROBE_BUDGET_SECONDS),
      EFFECTIVE: target.checks?.effective ?? "",
      PROOF_REF: target.checks?.proof?.image.full ?? "",
      PROOF_KIND: isRancherDistribution(target.runtime) ? "containerd" : target.runtime,
      PROOF_DIR: target.paths.registriesDir,
      CRI_SOCKET: control.criSocket ?? criSocket(target.runtime),
      CTR: RUNTIME_FACTS[target.runtime].ctr ?? "ctr",
      CRICTL: control.crictl ?? RUNTIME_FACTS[target.runtime].crictl ?? "crictl",
      PROOF_TIMEOUT: String(PROOF_TIMEOUT_SECONDS),
      AUTH_FILE: target.checks?.authFile ?? "",
      ACTED: "",
    }),
    AGENT_LIBRARY,
    AGENT_CHECKS,
    APPLY_STAGE,
    ...staging,
    APPLY_STAGE_DYNAMIC,
    APPLY_COMMIT,
  ].join("\n");
  return asRoot(script, target);
}

/** The main config as a read saw it: the apply refuses to run when it is no longer so. */
export interface ReadMainConfig {
  path: string;
  /** sha256 of the file, `absent` when there was none. */
  sha256: string;
}

/**
 * The stdin of an apply: secret file contents, the main config the plan was computed from (path and hash: the
 * apply runs only while the node still has it, or already has the new one), the plan's new main config, the
 * action, and files not in `staticFiles` (e.g. hosts.toml migrated from legacy config.toml entries).
 */
export function applyStdin(plan: NodePlan, readMain: ReadMainConfig | undefined, staticFiles: PlannedFile[], checks?: ApplyChecks): string {
  const main = plan.mainConfig;
  if (main && readMain === undefined) throw new Error("applyStdin: the main config as read is required when the plan changes the main config");
  const inCommand = new Set(staticFiles.filter((f) => !f.secret).map((f) => f.path));
  // The command writes its embedded files as they are: they must be exactly the plan's, or the node gets other bytes
  // than the ones verified afterwards.
  const planned = new Map(plan.files.map((f) => [f.path, f]));
  for (const file of staticFiles.filter((f) => !f.secret)) {
    const p = planned.get(file.path);
    if (!p || p.content !== file.content || p.mode !== file.mode || p.secret) {
      throw new Error(
        `applyStdin: ${file.path} is embedded in the apply command ${p ? "with other content or mode than" : "but not in"} the plan from the node's read; render both from the same inputs`,
      );
    }
  }
  const lines: string[] = [`RM-META action ${plan.action}`];
  const payloads = new Map<string, string>();
  const payload = (content: string): string => {
    const id = sha256(content);
    payloads.set(id, content);
    return id;
  };
  if (readMain) lines.push(`RM-META watch ${readMain.path}`, `RM-META expected ${readMain.sha256}`);
  if (main) lines.push(`RM-META main ${main.path}`, `RM-META mainsha ${payload(main.content)}`);
  if (main?.mode !== undefined) lines.push(`RM-META mainmode ${main.mode.toString(8)}`);
  for (const file of plan.files) {
    if (!inCommand.has(file.path)) lines.push(`RM-STDIN-FILE ${file.path} ${file.mode.toString(8)} ${payload(file.content)}`);
  }
  for (const probe of checks?.probes ?? []) {
    const configs = probeConfigs(probe);
    const opt = (content: string | undefined) => (content === undefined ? "-" : payload(content));
    const creds = probe.auth !== undefined || Object.keys(probe.headers).length > 0 ? 1 : 0;
    const fields = [probe.label, probe.severity, probe.url, opt(probe.caCert), opt(probe.clientCert), opt(probe.clientKey)];
    lines.push(`RM-PROBE ${[...fields, probe.skipVerify ? 1 : 0, creds, payload(configs.curl), payload(configs.wget)].join(" ")}`);
  }
  for (const attempt of checks?.proof?.attempts ?? [])
    lines.push(`RM-PROOF ${attempt.label.replace(/\s/g, "_")} ${attempt.name} ${payload(attempt.content)}`);
  for (const [id, content] of payloads) lines.push(`RM-FILE ${id}`, ...chunk(Buffer.from(content, "utf8").toString("base64")), `RM-END ${id}`);
  return `${lines.join("\n")}\n`;
}

/** What an apply printed. */
export interface ApplyReport {
  written: string[];
  removed: string[];
  action: RuntimeAction;
  /** Content of the TOML files as read back after writing. */
  readBack: Record<string, string>;
  /** What the node said a person should know (a file backed up, taken over, left as someone changed it). */
  warnings: string[];
  /** Per probed endpoint: the verdict (`ok`, `warn`, `fail`, `skipped`), how long the answer took and what it was. */
  probes: ProbeResult[];
  /** What the runtime said it loaded, as the node reported it; `undefined` when it was not asked. */
  effective?: string;
  /** The proof pull: the endpoint that served the image and its digest. */
  proof?: { servedBy: string; digest: string };
  done: boolean;
}

/** One endpoint's probe, as a node reported it. */
export interface ProbeResult {
  readonly endpoint: string;
  readonly result: "ok" | "warn" | "fail" | "skipped";
  readonly latencyMs: number;
  readonly detail: string;
}

/** Parses the output of {@link applyCommand} or {@link removeCommand}. */
export function parseApplyOutput(stdout: string): ApplyReport {
  const { lines, blocks } = parseBlocks(stdout);
  const tagged = (tag: string) => lines.filter((l) => l.startsWith(`${tag} `)).map((l) => l.slice(tag.length + 1));
  const readBack: Record<string, string> = {};
  for (const [key, content] of blocks) if (key.startsWith("RM-READBACK ")) readBack[key.slice("RM-READBACK ".length)] = content;
  const action = (tagged("RM-ACTION")[0] ?? "none") as ApplyReport["action"];
  return {
    written: tagged("RM-WROTE"),
    removed: [...tagged("RM-REMOVED"), ...tagged("RM-RESTORED")],
    action,
    readBack,
    warnings: tagged("RM-WARNING"),
    probes: tagged("RM-PROBE-RESULT").map((l) => {
      const [endpoint, result, ms, ...detail] = l.split(" ");
      return { endpoint, result: result as ProbeResult["result"], latencyMs: Number(ms) || 0, detail: detail.join(" ") };
    }),
    effective: tagged("RM-EFFECTIVE")[0],
    proof: tagged("RM-PROOF-RESULT")
      .map((l) => l.split(" "))
      .filter(([result]) => result === "ok")
      .map(([, servedBy, digest]) => ({ servedBy, digest }))[0],
    done: lines.some((l) => l.startsWith("RM-DONE")),
  };
}

/** Builds the command that returns a node to its state before this tool (owned files removed, originals back). */
export function removeCommand(target: NodeTarget, runtime: RuntimeKind, healthTimeoutSeconds = DEFAULT_HEALTH_TIMEOUT): string {
  const control = { ...runtimeControl(runtime), ...target.control };
  const script = [
    header(target, {
      UNIT: control.unit,
      HEALTH: control.healthCheck,
      HEALTH_TIMEOUT: String(healthTimeoutSeconds),
      MAIN_ACTION: RUNTIME_FACTS[runtime].onMainConfigRestored ?? RUNTIME_FACTS[runtime].onMainConfig,
      FILES_ACTION: RUNTIME_FACTS[runtime].onFiles,
    }),
    AGENT_LIBRARY,
    REMOVE_MAIN,
  ].join("\n");
  return asRoot(script, target);
}

function chunk(text: string, size = 76): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

/**
 * The part of a read that is this instance's own: entries it owns, or (when no other instance owns anything on the
 * node) entries of the ownerless earlier version. Mirrors the agent's `is_self`.
 */
export function ownEntries(state: NodeState, owner?: InstanceOwner): { owned: NodeState["owned"]; ownedFiles: Record<string, string> } {
  const id = owner?.id ?? "-";
  const isMe = (t: string) => t === id || (owner?.retire ?? []).includes(t.split("#")[0]);
  const alone = state.owned.every((e) => e.owners.every((t) => t === "-" || isMe(t)));
  const isSelf = (t: string) => isMe(t) || (t === "-" && alone);
  const owned = state.owned.filter((e) => e.owners.some(isSelf));
  const paths = new Set(owned.map((e) => e.path));
  return { owned, ownedFiles: Object.fromEntries(Object.entries(state.ownedFiles).filter(([p]) => paths.has(p))) };
}
