/** Runs CommandDriver stacks in a child process (see child.ts), keeping the stack's state between runs. */
import { fork } from "child_process";
import { join } from "path";
import type { Mirror } from "../../src";
import type { DriverHooks, Execution } from "./engine";

/** A RegistryMirrors stack as plain data (the private key is made secret in the child). */
export interface StackSpec {
  mirrors: Mirror[];
  nodes: {
    name: string;
    runtime?: string;
    sudo?: boolean;
    /** Other component arguments of the node (paths, probe, verify…). */
    paths?: Record<string, string>;
    connection: { host: string; port: number; user: string; privateKey: string; hostKey?: string; dialErrorLimit?: number; perDialTimeout?: number };
  }[];
  extra?: Record<string, unknown>;
}

type SavedState = { order: string[]; state: [string, unknown][] };

export interface ChildRequest {
  op: "up" | "destroy";
  spec?: StackSpec;
  state: SavedState;
  hooks: { beforeExec: boolean; onSpawn: boolean };
}

export interface ChildReply {
  done: true;
  errors: string[];
  executions: Execution[];
  value?: unknown;
  state: SavedState;
}

export class ForkedDriver {
  private state: SavedState = { order: [], state: [] };
  hooks: DriverHooks = {};

  up(spec: StackSpec): Promise<ChildReply> {
    return this.run({ op: "up", spec, state: this.state, hooks: { beforeExec: !!this.hooks.beforeExec, onSpawn: !!this.hooks.onSpawn } });
  }

  destroy(): Promise<ChildReply> {
    return this.run({ op: "destroy", state: this.state, hooks: { beforeExec: !!this.hooks.beforeExec, onSpawn: !!this.hooks.onSpawn } });
  }

  private run(request: ChildRequest): Promise<ChildReply> {
    const child = fork(join(__dirname, "child.ts"), [], {
      execArgv: ["-r", "ts-node/register/transpile-only"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => child.kill("SIGKILL"), 600_000);
      child.on("message", async (raw) => {
        const msg = raw as ChildReply | { hook: string; resource: string; operation: Execution["operation"]; id: number };
        if ("done" in msg) {
          this.state = msg.state;
          resolve(msg);
          return;
        }
        if (msg.hook === "onSpawn") {
          // The test may cut the connection now or later: it asks the child to kill that resource's ssh.
          this.hooks.onSpawn?.(msg.resource, msg.operation, () => child.connected && child.send({ kill: msg.resource }));
          return;
        }
        await this.hooks.beforeExec?.(msg.resource, msg.operation);
        child.send({ answer: msg.id });
      });
      child.send(request);
      child.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`driver child exited with ${code} before answering`));
      });
    });
  }
}
