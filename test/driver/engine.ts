/**
 * A test driver that runs a Pulumi program's `command:remote:Command` resources for real, over SSH (and its
 * `command:local:Command` resources on this machine), with the semantics of `@pulumi/command` 1.2.1 (see shared/facts/pulumi.md §1): a new resource runs `create`; a change of
 * any input but `triggers` is an update that runs `update ?? create`; a `triggers` change replaces (the
 * component sets deleteBeforeReplace, so the old `delete` runs first); unchanged inputs run nothing; resources
 * gone from the program run their stored `delete`. State is kept across `up` calls like a stack's.
 *
 * The program runs under Pulumi's mocks (the engine's resource monitor is the one thing replaced); every
 * command, its stdin and its connection are exactly what the component produced.
 */
import * as pulumi from "@pulumi/pulumi";
import { spawn } from "child_process";
import { mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { isDeepStrictEqual } from "util";

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
interface Connection {
  host: string;
  port?: number;
  user?: string;
  privateKey?: string;
  hostKey?: string;
  perDialTimeout?: number;
}

interface CommandState {
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
}

/** One command run over SSH, for assertions. */
export interface Execution {
  resource: string;
  operation: "create" | "update" | "delete";
  host: string;
  port: number;
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Hooks for fault injection. */
export interface DriverHooks {
  /** Awaited before a command runs (e.g. to change the node between read and apply). */
  beforeExec?: (resource: string, operation: Execution["operation"]) => Promise<void>;
  /** Called when a command's ssh process has started; may kill it (a cut connection). */
  onSpawn?: (resource: string, operation: Execution["operation"], kill: () => void) => void;
}

/** Removes the mocks' secret wrappers, recursively. */
function unwrap(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrap);
  if (typeof value === "object" && value !== null) {
    const record = value as Record<string, unknown>;
    if (record[SECRET_SIG] !== undefined) return unwrap(record.value);
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, unwrap(v)]));
  }
  return value;
}

export class CommandDriver {
  private readonly state = new Map<string, CommandState>();
  private readonly order: string[] = [];
  /** Every command run, in order. */
  readonly executions: Execution[] = [];
  hooks: DriverHooks = {};

  /**
   * Runs a program like `pulumi up`: `program` builds the resources and returns the outputs to wait for.
   * Returns the errors of resources that failed (the others complete, as with --continue-on-error) and the
   * program's outputs when they resolved (`undefined` after a failure: outputs of a failed stack never resolve).
   */
  async up(program: () => pulumi.Output<unknown> | Promise<unknown>): Promise<{ errors: Error[]; executions: Execution[]; value: unknown }> {
    const seen = new Set<string>();
    const pending: Promise<unknown>[] = [];
    const errors: Error[] = [];
    const before = this.executions.length;
    pulumi.runtime.setMocks(
      {
        newResource: (args) => {
          // As with the engine, a failed registration rejects the resource's outputs (and what depends on them).
          const work = this.register(args.type, args.name, args.inputs, seen);
          pending.push(work.catch((e: Error) => errors.push(e)));
          return work;
        },
        call: () => ({}),
      },
      "project",
      "stack",
      false,
    );
    const result = program();
    let value: unknown;
    const outputs = (
      pulumi.Output.isInstance(result) ? (result as unknown as { promise(): Promise<unknown> }).promise() : Promise.resolve(result)
    ).then(
      (v) => void (value = v),
      (e: Error) => void errors.push(e),
    );
    // Done when the outputs settled and no registration is running, none having started for a while.
    const quiet = (async () => {
      for (let settled = -1; settled !== pending.length;) {
        settled = pending.length;
        await Promise.allSettled(pending);
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    await outputs;
    await quiet;
    // Resources that are no longer in the program are deleted, newest first.
    for (const name of [...this.order].reverse()) {
      if (!seen.has(name) && this.state.has(name)) await this.remove(name).catch((e) => errors.push(e));
    }
    return { errors: dedupe(errors), executions: this.executions.slice(before), value };
  }

  /** Like `pulumi destroy`: runs every stored delete, newest first. */
  async destroy(): Promise<{ errors: Error[]; executions: Execution[] }> {
    const before = this.executions.length;
    const errors: Error[] = [];
    for (const name of [...this.order].reverse()) if (this.state.has(name)) await this.remove(name).catch((e) => errors.push(e));
    return { errors, executions: this.executions.slice(before) };
  }

  /** The whole state, to carry it to another process. */
  exportState(): { order: string[]; state: [string, CommandState][] } {
    return { order: [...this.order], state: [...this.state] };
  }

  /** Loads a state exported by {@link exportState}. */
  importState(saved: { order: string[]; state: [string, CommandState][] }): void {
    this.order.splice(0, this.order.length, ...saved.order);
    this.state.clear();
    for (const [k, v] of saved.state) this.state.set(k, v);
  }

  /** The stored state of a resource (what `pulumi stack export` would hold). */
  stored(name: string): CommandState | undefined {
    return this.state.get(name);
  }

  private async register(type: string, name: string, rawInputs: Record<string, unknown>, seen: Set<string>) {
    seen.add(name);
    if (type !== "command:remote:Command" && type !== "command:local:Command") return { id: `${name}-id`, state: rawInputs };
    const inputs = unwrap(rawInputs) as Record<string, unknown>;
    const previous = this.state.get(name);
    if (previous && isDeepStrictEqual(previous.inputs, inputs)) return { id: `${name}-id`, state: previous.outputs };
    let operation: Execution["operation"] = "create";
    let script = inputs.create as string | undefined;
    if (previous && !isDeepStrictEqual(previous.inputs.triggers, inputs.triggers)) {
      await this.remove(name);
    } else if (previous) {
      operation = "update";
      script = (inputs.update as string | undefined) ?? script;
    }
    let stdout = "";
    let stderr = "";
    if (script) {
      const run =
        type === "command:local:Command"
          ? await this.execLocal(name, operation, script)
          : await this.exec(name, operation, inputs.connection as Connection, script, (inputs.stdin as string | undefined) ?? "");
      stdout = run.stdout;
      stderr = run.stderr;
    }
    const outputs = { ...inputs, stdout: stdout.replace(/\n$/, ""), stderr: stderr.replace(/\n$/, "") };
    this.state.set(name, { inputs, outputs });
    if (!this.order.includes(name)) this.order.push(name);
    return { id: `${name}-id`, state: outputs };
  }

  private async remove(name: string): Promise<void> {
    const stored = this.state.get(name)!;
    const script = stored.inputs.delete as string | undefined;
    if (script && stored.inputs.connection === undefined) await this.execLocal(name, "delete", script);
    else if (script) await this.exec(name, "delete", stored.inputs.connection as Connection, script, "");
    this.state.delete(name);
  }

  /** Runs a local command with `/bin/sh -c`, as the provider does (not counted as a node execution). */
  private execLocal(resource: string, operation: Execution["operation"], script: string): Promise<{ stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn("/bin/sh", ["-c", script], { stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      child.on("close", (code) =>
        code === 0 ? resolve({ stdout, stderr }) : reject(new Error(`${resource}: ${operation} failed (exit ${code}): ${stderr}`)),
      );
    });
  }

  /** Runs one command over SSH the way the provider does: no PTY, the command string as is, stdin piped. */
  private async exec(resource: string, operation: Execution["operation"], conn: Connection, script: string, stdin: string): Promise<Execution> {
    await this.hooks.beforeExec?.(resource, operation);
    const dir = mkdtempSync(join(tmpdir(), "rm-driver-"));
    const port = conn.port ?? 22;
    const key = join(dir, "key");
    writeFileSync(key, conn.privateKey ?? "", { mode: 0o600 });
    const knownHosts = join(dir, "known_hosts");
    writeFileSync(knownHosts, conn.hostKey ? `[${conn.host}]:${port} ${conn.hostKey}\n` : "");
    const args = [
      "-T",
      "-i",
      key,
      "-p",
      String(port),
      "-o",
      "BatchMode=yes",
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      `UserKnownHostsFile=${knownHosts}`,
      "-o",
      `StrictHostKeyChecking=${conn.hostKey ? "yes" : "no"}`,
      "-o",
      `ConnectTimeout=${conn.perDialTimeout ?? 15}`,
      "-o",
      "LogLevel=ERROR",
      `${conn.user ?? "root"}@${conn.host}`,
      "--",
      script,
    ];
    return new Promise((resolve, reject) => {
      const child = spawn("ssh", args, { stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      child.stdin.on("error", () => undefined);
      child.stdin.end(stdin);
      const timer = setTimeout(() => child.kill("SIGKILL"), 180_000);
      this.hooks.onSpawn?.(resource, operation, () => child.kill("SIGKILL"));
      child.on("close", (code) => {
        clearTimeout(timer);
        rmSync(dir, { recursive: true, force: true });
        const execution: Execution = { resource, operation, host: conn.host, port, exitCode: code ?? -1, stdout, stderr };
        this.executions.push(execution);
        if (code === 0) resolve(execution);
        // The provider's error: the command and its combined output.
        else
          reject(
            new Error(`${resource}: ${operation} failed (exit ${code}): running ${JSON.stringify(script.slice(0, 200))}...:\n${stdout}${stderr}`),
          );
      });
    });
  }
}

function dedupe(errors: Error[]): Error[] {
  const seen = new Set<string>();
  return errors.filter((e) => (seen.has(e.message) ? false : (seen.add(e.message), true)));
}
