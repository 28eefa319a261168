/**
 * Installs mirror configurations on lab nodes the way an operator (or the component) would, over plain SSH:
 * read the node with the agent's read command, render with the core library from the LIVE config.toml, run the
 * apply command with its stdin bundle. Every step is timed and printed.
 */
import { renderNodeConfig, resolvePaths, type LegacyMode, type Mirror, type NodePaths, type NodePlan, type RuntimeKind } from "../../../src";
import { applyCommand, parseApplyOutput, parseReadOutput, readCommand, type ApplyReport, type NodeState } from "../../../src/node/protocol";
import type { ExecResult, Lab, NodeRef } from "../../lab";

/** Default node paths (what a real node uses: /etc/containerd/certs.d, /etc/containerd/config.toml, …). */
export const PATHS: NodePaths = resolvePaths(undefined);

/** Time limit of one SSH command that may restart containerd (health wait 30 s + restart + roll-back). */
const APPLY_TIMEOUT_MS = 150_000;

const nodeName = (lab: Lab, ref: NodeRef): string => lab.node(ref).name;

/** `console.log` a timing line (jest prints it with the test output). */
export function timing(what: string, ms: number): void {
  console.log(`[timing] ${what}: ${ms} ms`);
}

/** Runs the agent's read command over SSH. Throws with the agent's stderr when it fails. */
export async function readNode(lab: Lab, ref: NodeRef, kind?: RuntimeKind): Promise<{ state: NodeState; ms: number }> {
  const name = nodeName(lab, ref);
  const started = Date.now();
  const r = await lab.exec(ref, readCommand({ node: name }, PATHS, kind), { timeoutMs: 60_000 });
  const ms = Date.now() - started;
  if (r.code !== 0) throw new Error(`read of ${name} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return { state: parseReadOutput(r.stdout), ms };
}

/** Renders the plan for a node from what a read returned (live config.toml, owned files, runtime version). */
export function planFor(state: NodeState, mirrors: Mirror[], legacy?: LegacyMode): NodePlan {
  return renderNodeConfig({
    mirrors,
    runtime: state.runtime,
    liveConfig: state.mainConfig?.content,
    paths: PATHS,
    ownedFiles: state.ownedFiles,
    ...(legacy ? { legacy } : {}),
  });
}

/** Runs the apply command of a plan over SSH (command as argument, secrets on stdin). Does not throw. */
export async function runApply(lab: Lab, ref: NodeRef, state: NodeState, plan: NodePlan): Promise<{ exec: ExecResult; ms: number }> {
  const name = nodeName(lab, ref);
  const { command, stdin } = applyCommand({ node: name, runtime: state.runtime.kind, paths: PATHS, plan, readMain: state.mainConfig });
  const started = Date.now();
  const exec = await lab.exec(ref, command, { input: stdin, timeoutMs: APPLY_TIMEOUT_MS });
  return { exec, ms: Date.now() - started };
}

/** Everything one install did. */
export interface Installed {
  state: NodeState;
  plan: NodePlan;
  report: ApplyReport;
  readMs: number;
  applyMs: number;
}

/**
 * read → render (live config) → apply on one node; throws with the agent's message when the apply fails.
 * Prints `[timing] <node> apply (<action>)`.
 */
export async function install(lab: Lab, ref: NodeRef, mirrors: Mirror[], opts: { legacy?: LegacyMode; label?: string } = {}): Promise<Installed> {
  const name = nodeName(lab, ref);
  const { state, ms: readMs } = await readNode(lab, ref);
  const plan = planFor(state, mirrors, opts.legacy);
  for (const w of plan.warnings) console.log(`[warning] ${name}: ${w}`);
  const { exec, ms: applyMs } = await runApply(lab, ref, state, plan);
  if (exec.code !== 0 || exec.timedOut) {
    throw new Error(`apply on ${name} exited ${exec.code}${exec.timedOut ? " (timed out)" : ""}: ${exec.stderr.trim() || exec.stdout.trim()}`);
  }
  const report = parseApplyOutput(exec.stdout);
  if (!report.done) throw new Error(`apply on ${name} did not report RM-DONE:\n${exec.stdout.slice(0, 2000)}`);
  timing(`${name} ${opts.label ? `${opts.label} ` : ""}read`, readMs);
  timing(
    `${name} ${opts.label ? `${opts.label} ` : ""}apply (plan action ${plan.action}, ran ${report.action}, ${plan.files.length} files${plan.mainConfig ? " + config.toml" : ""})`,
    applyMs,
  );
  return { state, plan, report, readMs, applyMs };
}
