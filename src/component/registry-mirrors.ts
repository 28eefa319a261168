import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { mirrorsInMainConfig, renderValidated, resolvePaths } from "../render";
import type { PlannedFile } from "../render/types";
import { sha256 } from "../node/shell";
import {
  applyScript,
  applyStdin,
  ownEntries,
  parseApplyOutput,
  parseReadOutput,
  readCommand,
  removeCommand,
  type InstanceOwner,
  type NodeState,
} from "../node/protocol";
import { validateMirrors } from "../model/validate";
import { LegacyMode, RegistryMirrorsError, RuntimeKind, type Mirror, type NodePaths, type Problem } from "../model/types";
import { VerifyMode, type MirrorNode, type NodeReport, type NodeVerify, type RegistryMirrorsArgs, type Verify } from "./args";
import { effectiveCheck, mirrorForImage, parseImageReference, probeTargets, proofPlan, ProbeMode, type ImageReference } from "../node/checks";
import type { ApplyChecks } from "../node/protocol";
import { verifyReadBack } from "./verify";
import { hostKeyProblems, hostKeysCheckScript, parseHostKeyChecks, type HostKeyTarget, type TrustedConnection } from "./host-key";
import { INSTANCE_NAME_PATTERN, instanceName, instanceOwner } from "./instance";
import { claimInProgram } from "./program-claims";
import { asArgumentsError, failure, RegistryMirrorsArgumentsError } from "./errors";

const RUNTIMES: readonly string[] = [...Object.values(RuntimeKind), "auto"];
const LEGACY_MODES: readonly string[] = Object.values(LegacyMode);
const VERIFY_MODES: readonly string[] = Object.values(VerifyMode);
const PROBE_MODES: readonly string[] = Object.values(ProbeMode);

/** `verify` as given: the object form, or (from JavaScript, as in earlier versions) a mode alone. */
function verifyArgs(verify: RegistryMirrorsArgs["verify"] | VerifyMode): Verify {
  return typeof verify === "string" ? { when: verify } : (verify ?? {});
}

/** `nodes`, each a plain node: {@link checkArgs} refused Outputs and Promises in the list. */
function plainNodes(args: RegistryMirrorsArgs): MirrorNode[] {
  return args.nodes as MirrorNode[];
}

/** A value only known later: an Output or a Promise. */
function unresolved(value: unknown): boolean {
  return pulumi.Output.isInstance(value) || value instanceof Promise;
}

/**
 * Configures registry mirrors on every node over SSH, verifies them, and removes them cleanly.
 *
 * Per node there are two commands: `<name>-<node>-read` reads the node (runtime, main config, owned files) and
 * `<name>-<node>-apply` writes the plan rendered from it, restarts or reloads the runtime only when needed, reads
 * the files back and verifies them; its delete returns the node to its state before this tool. The apply runs only
 * when the node's desired configuration changes, so an unchanged stack opens no SSH session; the read runs only when
 * something the plan takes from the node can change (runtime, paths, legacy mode, mirrors held in the main config),
 * so a change of hosts.toml files alone costs one session. Local resources (no login on the node):
 * `<name>-<node>-main-config` is updated exactly when the node's planned main config changes (restarts are staged
 * by it), and one `<name>-host-keys` checks every node's SSH host key before its commands run.
 */
export class RegistryMirrors extends pulumi.ComponentResource {
  /** Per node: what was seen, written, restarted and verified. */
  public readonly reports: pulumi.Output<Record<string, NodeReport>>;

  constructor(name: string, args: RegistryMirrorsArgs, opts?: pulumi.ComponentResourceOptions) {
    // Checked before anything is registered; mirrors holding Outputs are checked when they resolve.
    checkArgs(args);
    try {
      if (isPlain(args.mirrors)) validateMirrors(args.mirrors);
    } catch (e) {
      throw asArgumentsError(e);
    }
    if (isPlain(args.mirrors)) checkProofImages(args, args.mirrors as Mirror[]);
    super("registry-mirrors:index:RegistryMirrors", name, {}, opts);
    const mirrors = pulumi.output(args.mirrors as pulumi.Input<Mirror[]>).apply((m) => {
      try {
        validateMirrors(m);
      } catch (e) {
        throw failure("registry-mirrors: invalid mirrors", e, this);
      }
      return m;
    });
    const maxParallel = args.rollout?.maxParallelRestarts ?? 1;
    const verify = verifyArgs(args.verify);
    const verifyAlways = verify.when === "always";
    // `always` re-reads on every run: a value that changes each time makes the read run again.
    const runStamp = verifyAlways ? new Date().toISOString() : undefined;
    const startedSeconds = Math.floor(Date.now() / 1000);
    // Whose files these are on the nodes (see README, "Several instances on one node").
    // From the URN's value, not the Output: an input depending on this component would wait for all its children.
    const urn = pulumi.output((this.urn as unknown as { promise(): Promise<string> }).promise());
    const owner = urn.apply((u) =>
      instanceOwner({ project: pulumi.getProject(), stack: pulumi.getStack(), name, urn: u ?? "", takeOver: args.takeOver, aliases: opts?.aliases }),
    );
    const program = instanceName(pulumi.getProject(), pulumi.getStack(), name);

    // One local check of every node's SSH host key (created after the nodes, which give its inputs): one engine step
    // for the whole cluster instead of one per node, so it does not hold up the applies in the engine's queue.
    let resolveHostKeys!: (check: command.local.Command | undefined) => void;
    const hostKeyCheck = new Promise<command.local.Command | undefined>((resolve) => (resolveHostKeys = resolve));
    const hostKeys = {
      stdout: pulumi.output(hostKeyCheck.then((c) => (c ? settled(c.stdout, undefined as string | undefined) : ""))),
      resources: hostKeyCheck.then((c): pulumi.Resource[] => (c ? [c] : [])),
    };

    const restartFlags: Promise<boolean>[] = [];
    const applies: command.remote.Command[] = [];
    const reports: Record<string, pulumi.Output<NodeReport>> = {};
    const hostKeyTargets: pulumi.Output<HostKeyTarget>[] = [];
    const hostKeyTriggers: pulumi.Output<string>[] = [];
    plainNodes(args).forEach((node, index) => {
      const nodeSetup = new NodeSetup(name, node, {
        mirrors,
        legacy: node.legacy ?? args.legacy ?? "refuse",
        verifyAlways,
        probe: node.probe ?? args.probe ?? "error",
        checks: { ...verify, ...node.verify },
        runStamp,
        healthTimeoutSeconds: args.healthTimeoutSeconds,
        startedSeconds,
        owner,
        program,
        index,
        hostKeys,
        parent: this,
        // Restarts are staged: this node waits for the apply of the restarting node `maxParallel` places before
        // it. An earlier node that failed (or is unknown in a preview) counts as not restarting, so one
        // unreachable node does not hold the others.
        dependsOn: async (restarts) => {
          restartFlags[index] = restarts;
          const flags = await Promise.all(restartFlags.slice(0, index + 1));
          const wait = restartPredecessor(flags, maxParallel);
          return wait === undefined ? [] : [applies[wait]];
        },
      });
      applies.push(nodeSetup.apply);
      reports[node.name] = nodeSetup.report;
      if (nodeSetup.hostKeyTarget) {
        hostKeyTargets.push(nodeSetup.hostKeyTarget);
        hostKeyTriggers.push(nodeSetup.hostKeyTrigger!);
      }
    });
    resolveHostKeys(
      hostKeyTargets.length === 0
        ? undefined
        : new command.local.Command(
            `${name}-host-keys`,
            {
              create: pulumi.unsecret(pulumi.all(hostKeyTargets).apply(hostKeysCheckScript)),
              // Changes with everything that makes a read or an apply run (an update, which runs `create` again).
              stdin: pulumi.secret(pulumi.all(hostKeyTriggers).apply((t) => sha256(JSON.stringify(t)))),
              addPreviousOutputInEnv: false,
            },
            { parent: this },
          ),
    );
    this.reports = pulumi.output(reports);
    this.registerOutputs({ reports: this.reports });
  }
}

/**
 * Index of the node a restarting node must wait for: with `restarts[i]` telling which nodes restart, the last
 * one (the node being placed) waits for the restarting node `maxParallel` positions earlier among restarting
 * nodes, so at most `maxParallel` restart at once. Nodes that do not restart wait for nobody.
 */
export function restartPredecessor(restarts: boolean[], maxParallel: number): number | undefined {
  const me = restarts.length - 1;
  if (!restarts[me]) return undefined;
  const earlier = restarts.slice(0, me).flatMap((r, i) => (r ? [i] : []));
  return earlier.length >= maxParallel ? earlier[earlier.length - maxParallel] : undefined;
}

interface NodeSetupOptions {
  mirrors: pulumi.Output<Mirror[]>;
  legacy: LegacyMode;
  verifyAlways: boolean;
  probe: ProbeMode;
  /** The node's checks after an apply: the component's with the node's own on top. */
  checks: NodeVerify;
  runStamp?: string;
  healthTimeoutSeconds?: number;
  /** When this program run started (Unix seconds): tells a main-config marker created in this run from an older one. */
  startedSeconds: number;
  /** Whose files these are. */
  owner: pulumi.Output<InstanceOwner>;
  /** `project/stack/name` of the component, for messages about another component of this program. */
  program: string;
  /** The node's index in `nodes`, for field paths in messages. */
  index: number;
  /** The combined host-key check: what it printed (undefined in a preview) and the resource to wait for. */
  hostKeys: { stdout: pulumi.Output<string | undefined>; resources: Promise<pulumi.Resource[]> };
  parent: pulumi.Resource;
  dependsOn: (needsRestart: Promise<boolean>) => Promise<pulumi.Resource[]>;
}

/** The read and apply commands of one node. */
class NodeSetup {
  readonly apply: command.remote.Command;
  readonly report: pulumi.Output<NodeReport>;
  /** This node in the combined host-key check (none with `insecureIgnoreHostKey`), and what makes that check run. */
  readonly hostKeyTarget?: pulumi.Output<HostKeyTarget>;
  readonly hostKeyTrigger?: pulumi.Output<string>;

  constructor(component: string, node: MirrorNode, opts: NodeSetupOptions) {
    const givenKind = node.runtime && node.runtime !== "auto" ? node.runtime : undefined;
    // The hosts directory is fixed (hostsDir: "fixed", not adopted from the node's config_path) so that every file
    // path is known before a read: previews show them, and a mirrors-only change needs no read.
    const paths: NodePaths = resolvePaths(node.paths);
    const target = { node: node.name, sudo: node.sudo };
    const insecure = node.insecureIgnoreHostKey === true;

    // The connection as the commands get it, its host keys checked once its Outputs resolve (plain ones were
    // checked before anything was registered).
    const given = pulumi.output(node.connection).apply((c) => {
      const problems = hostKeyProblems(`nodes[${opts.index}]`, node.name, insecure, c as TrustedConnection);
      if (problems.length > 0)
        throw failure(`registry-mirrors: node ${node.name}: step connection`, new RegistryMirrorsError(problems, "invalid connection"), opts.parent);
      return c;
    });
    if (insecure) {
      pulumi.log.warn(
        `node ${node.name}: insecureIgnoreHostKey is set: its SSH host key is not checked, so whoever answers at its address receives the registry credentials`,
        opts.parent,
      );
    }

    // Everything the plan takes from the node depends on; the read runs again only when it changes. Any other
    // mirror change is planned from the last read: the main config it computes is the one already written, and the
    // apply's compare-and-swap refuses to touch a main config that changed on the node since that read.
    const readKey = opts.mirrors.apply((m) =>
      sha256(
        JSON.stringify({
          paths,
          legacy: opts.legacy,
          kind: givenKind ?? "auto",
          mainConfigMirrors: mirrorsInMainConfig(m, givenKind, opts.legacy) ?? null,
        }),
      ),
    );

    // Before the read or the apply runs (whenever their inputs may change), the node must show the pinned host key:
    // the commands get the connection only once the combined check said so for this node. A changed key fails here
    // with both fingerprints; nodes behind a proxy are checked by the connection alone.
    if (!insecure) {
      this.hostKeyTarget = given.apply((c): HostKeyTarget =>
        c.proxy ? { node: node.name, proxy: true } : { node: node.name, host: c.host, port: c.port ?? 22, hostKey: c.hostKey! },
      );
      this.hostKeyTrigger = pulumi
        .all([opts.mirrors, readKey, given])
        .apply(([m, k, c]) => sha256(JSON.stringify({ m, k, c, stamp: opts.runStamp ?? null })));
    }
    let keyWarned = false;
    const connection = insecure
      ? given
      : pulumi.all([given, opts.hostKeys.stdout]).apply(([c, out]) => {
          const verdict = out === undefined ? undefined : parseHostKeyChecks(out).get(node.name);
          // Unknown in a preview, or from a check that ran before this node existed: the next check covers it.
          if (!verdict) return c;
          const said = verdict.lines.map((l) => l.replace(`registry-mirrors: node ${node.name}: step host-key: `, ""));
          if (verdict.code !== 0) throw failure(`registry-mirrors: node ${node.name}: step host-key`, said.join("\n"), opts.parent);
          const notes = said.filter((l) => !/^SHA256:/.test(l) && l !== "unanswered" && l !== "unchecked" && !/is behind a proxy/.test(l));
          if (notes.length > 0 && !keyWarned) {
            keyWarned = true;
            pulumi.log.warn(`node ${node.name}: ${notes.join("; ")}`, opts.parent);
          }
          return c;
        });
    const read = new command.remote.Command(
      `${component}-${node.name}-read`,
      {
        connection,
        create: opts.owner.apply((owner) => readCommand({ ...target, owner }, paths, givenKind)),
        triggers: [pulumi.secret(readKey), ...(opts.runStamp ? [opts.runStamp] : [])],
        logging: "stderr",
        addPreviousOutputInEnv: false,
      },
      { parent: opts.parent, deleteBeforeReplace: true, additionalSecretOutputs: ["stdout"], dependsOn: opts.hostKeys.resources },
    );
    const state = read.stdout.apply(parseReadOutput);
    const kind: pulumi.Output<RuntimeKind> = givenKind ? pulumi.output(givenKind) : pulumi.unsecret(state.apply((s) => s.runtime.kind));

    // The plan from what was read; with a given runtime, the files are also rendered from the spec alone so
    // the preview can show them before anything is read.
    // The mirrors were validated once, in their Output: rendering does not validate them again.
    const render = (input: Parameters<typeof renderValidated>[0], resource: pulumi.Resource) => {
      try {
        return renderValidated(input);
      } catch (e) {
        throw failure(`registry-mirrors: node ${node.name}: step render`, e, resource);
      }
    };
    const plan = pulumi.all([opts.mirrors, state, opts.owner]).apply(([mirrors, s, owner]) => {
      if (opts.verifyAlways) checkDrift(node.name, ownEntries(s, owner).owned, read);
      return render(
        {
          mirrors,
          runtime: givenKind ? { kind: givenKind, version: s.runtime.kind === givenKind ? s.runtime.version : undefined } : s.runtime,
          liveConfig: s.mainConfig?.content,
          paths,
          hostsDir: "fixed",
          legacy: opts.legacy,
          ownedFiles: ownEntries(s, owner).ownedFiles,
        },
        read,
      );
    });
    const specFiles: pulumi.Output<PlannedFile[]> = givenKind
      ? opts.mirrors.apply(
          (mirrors) => render({ mirrors, runtime: { kind: givenKind }, paths, hostsDir: "fixed", legacy: opts.legacy }, opts.parent).files,
        )
      : plan.apply((p) => p.files);
    // The checks around the apply: probes of every endpoint before it, the runtime's own view and the proof pull after.
    const proofImage = opts.checks.pull ? (parseImageReference(opts.checks.pull) as ImageReference) : undefined;
    // Computed once: the command takes the runtime question and the proof's image, the stdin the probes and its files.
    const checks = pulumi.all([kind, opts.mirrors]).apply(([k, mirrors]): ApplyChecks => {
      if (proofImage && !mirrorForImage(mirrors, proofImage)) {
        throw failure(
          `registry-mirrors: node ${node.name}: step verify`,
          `verify.pull: ${proofImage.full} is from ${proofImage.registry}, which no mirror configures; pull an image of a mirrored upstream`,
          opts.parent,
        );
      }
      return {
        probes: probeTargets(mirrors, k, opts.probe),
        effective: opts.checks.effectiveConfig === false ? undefined : effectiveCheck(k, mirrors, paths, opts.legacy === "write"),
        proof: proofImage ? proofPlan(mirrors, k, proofImage, paths) : undefined,
        authFile: paths.containersAuthFile,
      };
    });
    const script = pulumi.all([kind, specFiles, read.urn, opts.owner, checks]).apply(([k, files, readUrn, owner, nodeChecks]) =>
      applyScript(
        {
          ...target,
          owner,
          runtime: k,
          paths,
          healthTimeoutSeconds: opts.healthTimeoutSeconds,
          reread: `pulumi up --replace '${readUrn}'`,
          checks: nodeChecks,
        },
        files,
      ),
    );
    const stdin = pulumi.all([plan, state, specFiles, connection, checks]).apply(([p, s, files, c, nodeChecks]) => {
      claimInProgram(`${c.host}:${c.port ?? 22}`, opts.program, node.name, opts.index, p.files);
      return applyStdin(p, s.mainConfig, files, nodeChecks);
    });

    // The read may predate the last apply, so "the plan changes the main config" is not "the node's main config
    // changes". This marker is: the engine updates it (running `date` locally) only when the planned main config
    // differs from the one of the last run, so a time from this run means the runtime will restart.
    const mainConfigMarker = new command.local.Command(
      `${component}-${node.name}-main-config`,
      {
        create: "date +%s",
        stdin: pulumi.secret(plan.apply((p) => (p.mainConfig ? sha256(`${p.mainConfig.path}\n${p.mainConfig.content}`) : "unchanged"))),
        addPreviousOutputInEnv: false,
      },
      { parent: opts.parent },
    );
    const needsRestart = settled(
      pulumi.all([plan, mainConfigMarker.stdout]).apply(([p, created]) => p.action === "restart" && Number(created) >= opts.startedSeconds),
      false,
    );

    // The restart chain, and the host-key check.
    const applyDependsOn: Promise<pulumi.Resource[]> = Promise.all([opts.dependsOn(needsRestart), opts.hostKeys.resources]).then(
      ([restarts, keys]) => [...restarts, ...keys],
    );
    this.apply = new command.remote.Command(
      `${component}-${node.name}-apply`,
      {
        connection,
        // Secret file contents are not in the script, so it can be shown as it is: readable in previews.
        create: pulumi.unsecret(script),
        delete: pulumi.all([kind, opts.owner]).apply(([k, owner]) => removeCommand({ ...target, owner }, k, opts.healthTimeoutSeconds)),
        stdin: pulumi.secret(stdin),
        logging: "stderr",
        addPreviousOutputInEnv: false,
      },
      {
        parent: opts.parent,
        dependsOn: applyDependsOn,
        deleteBeforeReplace: true,
        additionalSecretOutputs: ["stdout"],
        customTimeouts: { create: "15m", update: "15m", delete: "15m" },
      },
    );

    this.report = pulumi.unsecret(
      pulumi.all([state, plan, this.apply.stdout]).apply(([s, p, stdout]) => {
        const applied = parseApplyOutput(stdout);
        const problems = verifyReadBack(p, applied.readBack);
        if (problems.length > 0) {
          throw failure(
            `registry-mirrors: node ${node.name}: step verify`,
            `the files read back differ from the plan:\n  ${problems.join("\n  ")}`,
            this.apply,
          );
        }
        return {
          node: node.name,
          runtime: s.runtime,
          files: p.files.map((f) => f.path).concat(p.mainConfig ? [p.mainConfig.path] : []),
          written: applied.written,
          removed: applied.removed,
          action: applied.action,
          verification: "ok",
          hostKey: insecure ? ("not checked" as const) : ("pinned" as const),
          warnings: [
            ...(insecure ? [`insecureIgnoreHostKey: the SSH host key of ${node.name} was not checked`] : []),
            ...p.warnings,
            ...applied.warnings,
          ],
          probes: applied.probes,
          effective: applied.effective ?? "not asked",
          ...(applied.proof && proofImage ? { proof: { image: proofImage.full, ...applied.proof } } : {}),
        };
      }),
    );
  }
}

/**
 * The value of an Output as a promise that never rejects: `fallback` when it failed or is unknown (preview).
 * Uses the SDK's Output promise, which the public typings do not declare.
 */
function settled<T>(output: pulumi.Output<T>, fallback: T): Promise<T> {
  const promise = (output as unknown as { promise(): Promise<T | undefined> }).promise();
  return promise.then((v) => (v === undefined ? fallback : v)).catch(() => fallback);
}

/** `verify: always`: fails when a file this instance wrote was changed on the node since. */
function checkDrift(node: string, owned: NodeState["owned"], read: pulumi.Resource): void {
  const drifted = owned.filter((o) => o.written !== o.current);
  if (drifted.length > 0) {
    throw failure(
      `registry-mirrors: node ${node}: step verify`,
      "files changed on the node since registry-mirrors wrote them:\n" +
        drifted.map((d) => `  ${d.path}: sha256 ${d.current} on the node, ${d.written} written`).join("\n") +
        '\nRun with verify: "onChange" once to rewrite them, or find out who changed them.',
      read,
    );
  }
}

/** True when a value holds no Output or Promise anywhere, so it can be checked synchronously. */
function isPlain(value: unknown): boolean {
  if (pulumi.Output.isInstance(value) || value instanceof Promise) return false;
  if (Array.isArray(value)) return value.every(isPlain);
  if (typeof value === "object" && value !== null) return Object.values(value).every(isPlain);
  return true;
}

/** Checks the plain arguments before any resource exists; every problem at once. */
function checkArgs(args: RegistryMirrorsArgs): void {
  const problems: Problem[] = [];
  if (!Array.isArray(args.nodes)) problems.push({ path: "nodes", message: "must be a list of nodes" });
  const seen = new Map<string, number>();
  (Array.isArray(args.nodes) ? args.nodes : []).forEach((entry, i) => {
    const at = `nodes[${i}]`;
    if (unresolved(entry)) {
      problems.push({
        path: at,
        message:
          "must be known when the program runs (the nodes decide which resources exist): give the node itself, with an Output only inside, e.g. in its connection",
      });
      return;
    }
    const node = entry as MirrorNode;
    if (typeof node?.name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(node.name)) {
      problems.push({ path: `${at}.name`, message: "must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit" });
    } else if (seen.has(node.name)) {
      problems.push({ path: `${at}.name`, message: `"${node.name}" is also the name of nodes[${seen.get(node.name)}]; node names must be unique` });
    } else seen.set(node.name, i);
    if (node?.connection === undefined)
      problems.push({ path: `${at}.connection`, message: "is required: the SSH connection (host, port, user, privateKey, hostKey)" });
    if (node?.runtime !== undefined && !RUNTIMES.includes(node.runtime))
      problems.push({ path: `${at}.runtime`, message: `must be one of ${RUNTIMES.join(", ")}` });
    if (node?.legacy !== undefined && !LEGACY_MODES.includes(node.legacy))
      problems.push({ path: `${at}.legacy`, message: `must be one of ${LEGACY_MODES.join(", ")}` });
    if (node?.sudo !== undefined && typeof node.sudo !== "boolean") problems.push({ path: `${at}.sudo`, message: "must be true or false" });
    if (node?.probe !== undefined && !PROBE_MODES.includes(node.probe))
      problems.push({ path: `${at}.probe`, message: `must be one of ${PROBE_MODES.map((m) => JSON.stringify(m)).join(", ")}` });
    if (node?.verify !== undefined) {
      if (typeof node.verify !== "object" || node.verify === null || Array.isArray(node.verify))
        problems.push({ path: `${at}.verify`, message: "must be { effectiveConfig?, pull? }" });
      else problems.push(...nodeVerifyProblems(`${at}.verify`, node.verify));
    }
    if (node?.insecureIgnoreHostKey !== undefined && typeof node.insecureIgnoreHostKey !== "boolean") {
      problems.push({ path: `${at}.insecureIgnoreHostKey`, message: "must be true or false (a plain value, not an Output)" });
    }
    // A connection held in an Output is checked when it resolves, before any command runs.
    if (node?.connection !== undefined && !pulumi.Output.isInstance(node.connection) && !(node.connection instanceof Promise)) {
      const c = node.connection as TrustedConnection;
      const proxy = c.proxy !== undefined && (pulumi.Output.isInstance(c.proxy) || (c.proxy as unknown) instanceof Promise) ? undefined : c.proxy;
      problems.push(...hostKeyProblems(at, typeof node.name === "string" ? node.name : at, node.insecureIgnoreHostKey === true, { ...c, proxy }));
    }
    try {
      resolvePaths(node?.paths);
    } catch (e) {
      if (e instanceof RegistryMirrorsError) problems.push(...e.problems.map((p) => ({ ...p, path: `${at}.${p.path}` })));
      else throw e;
    }
  });
  if (args.takeOver !== undefined) {
    if (!Array.isArray(args.takeOver)) problems.push({ path: "takeOver", message: 'must be a list of instance ids, e.g. ["infra/prod/mirrors"]' });
    else
      args.takeOver.forEach((id, i) => {
        if (typeof id !== "string" || !INSTANCE_NAME_PATTERN.test(id)) {
          problems.push({
            path: `takeOver[${i}]`,
            message: `must be an instance id project/stack/name as the conflict error names it (without "#…"), got ${JSON.stringify(id)}`,
          });
        }
      });
  }
  const max = args.rollout?.maxParallelRestarts;
  if (max !== undefined && !(Number.isInteger(max) && max >= 1))
    problems.push({ path: "rollout.maxParallelRestarts", message: "must be a whole number of at least 1" });
  const modes = VERIFY_MODES.map((m) => JSON.stringify(m)).join(", ");
  if (typeof args.verify === "string" || args.verify === undefined || args.verify === null) {
    if (args.verify != null && !VERIFY_MODES.includes(args.verify))
      problems.push({ path: "verify", message: `must be one of ${modes}, or { when, effectiveConfig, pull }` });
  } else if (typeof args.verify !== "object" || Array.isArray(args.verify)) {
    problems.push({ path: "verify", message: `must be one of ${modes}, or { when, effectiveConfig, pull }` });
  } else {
    if (args.verify.when !== undefined && !VERIFY_MODES.includes(args.verify.when))
      problems.push({ path: "verify.when", message: `must be one of ${modes}` });
    problems.push(...nodeVerifyProblems("verify", args.verify));
  }
  if (args.probe !== undefined && !PROBE_MODES.includes(args.probe))
    problems.push({ path: "probe", message: `must be one of ${PROBE_MODES.map((m) => JSON.stringify(m)).join(", ")}` });
  if (args.legacy !== undefined && !LEGACY_MODES.includes(args.legacy))
    problems.push({ path: "legacy", message: `must be one of ${LEGACY_MODES.join(", ")}` });
  const t = args.healthTimeoutSeconds;
  if (t !== undefined && !(Number.isInteger(t) && t >= 1 && t <= 600))
    problems.push({ path: "healthTimeoutSeconds", message: "must be a whole number of seconds between 1 and 600" });
  if (problems.length > 0) throw new RegistryMirrorsArgumentsError(problems);
}

/** Problems of the per-node checks after an apply, at `at`. */
function nodeVerifyProblems(at: string, verify: NodeVerify): Problem[] {
  const problems: Problem[] = [];
  if (verify.effectiveConfig !== undefined && typeof verify.effectiveConfig !== "boolean")
    problems.push({ path: `${at}.effectiveConfig`, message: "must be true or false" });
  if (verify.pull !== undefined && verify.pull !== "") {
    const image = typeof verify.pull === "string" ? parseImageReference(verify.pull) : "must be an image reference (a string)";
    if (typeof image === "string") problems.push({ path: `${at}.pull`, message: image });
  }
  return problems;
}

/** Every proof image must come from a mirrored registry (checked here when the mirrors are plain, else per node). */
function checkProofImages(args: RegistryMirrorsArgs, mirrors: Mirror[]): void {
  const pulls: [string, string | undefined][] = [
    ["verify.pull", verifyArgs(args.verify).pull],
    ...plainNodes(args).map((n, i): [string, string | undefined] => [`nodes[${i}].verify.pull`, n.verify?.pull]),
  ];
  const problems: Problem[] = [];
  for (const [path, pull] of pulls) {
    if (!pull) continue;
    const image = parseImageReference(pull) as ImageReference;
    if (!mirrorForImage(mirrors, image))
      problems.push({ path, message: `${image.full} is from ${image.registry}, which no mirror configures; pull an image of a mirrored upstream` });
  }
  if (problems.length > 0) throw new RegistryMirrorsArgumentsError(problems);
}
