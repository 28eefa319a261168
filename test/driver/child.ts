/**
 * Runs one `up` or `destroy` of a RegistryMirrors stack in its own process (forked by ForkedDriver), so that a
 * failed resource behaves as under the real SDK — rejected outputs, unhandled rejections reported as the run's
 * errors — without disturbing the test process.
 */
import * as pulumi from "@pulumi/pulumi";
import { CommandDriver, type Execution } from "./engine";
import type { StackSpec, ChildRequest, ChildReply } from "./forked";
import type { NodeRuntime, RegistryMirrorsArgs } from "../../src";

const driver = new CommandDriver();
const unhandled: Error[] = [];
process.on("unhandledRejection", (reason) => unhandled.push(reason instanceof Error ? reason : new Error(String(reason))));

let nextId = 0;
const waiting = new Map<number, (kill: boolean) => void>();
const killers = new Map<string, () => void>();
function ask(message: Record<string, unknown>): Promise<boolean> {
  const id = nextId++;
  return new Promise((resolve) => {
    waiting.set(id, resolve);
    process.send!({ ...message, id });
  });
}

process.on("message", async (raw: unknown) => {
  const msg = raw as ChildRequest | { answer: number } | { kill: string };
  if ("answer" in msg) {
    waiting.get(msg.answer)?.(false);
    waiting.delete(msg.answer);
    return;
  }
  if ("kill" in msg) {
    killers.get(msg.kill)?.();
    return;
  }
  driver.importState(msg.state as Parameters<CommandDriver["importState"]>[0]);
  driver.hooks = {
    beforeExec: msg.hooks.beforeExec ? async (resource, operation) => void (await ask({ hook: "beforeExec", resource, operation })) : undefined,
    onSpawn: msg.hooks.onSpawn
      ? (resource, operation, kill) => {
          killers.set(resource, kill);
          process.send!({ hook: "onSpawn", resource, operation, id: -1 });
        }
      : undefined,
  };
  let result: { errors: Error[]; executions: Execution[]; value?: unknown };
  if (msg.op === "destroy") result = await driver.destroy();
  else {
    const rm = await import("../../src");
    result = await driver.up(() => new rm.RegistryMirrors("mirrors", toArgs(msg.spec!)).reports);
  }
  await new Promise((r) => setTimeout(r, 100));
  const reply: ChildReply = {
    done: true,
    errors: [...result.errors, ...unhandled].map((e) => e.message),
    executions: result.executions,
    value: result.value,
    state: driver.exportState(),
  };
  process.send!(reply, () => process.exit(0));
});

/** Secret inputs as a stack would pass them. */
function toArgs(spec: StackSpec): RegistryMirrorsArgs {
  return {
    ...spec.extra,
    mirrors: spec.mirrors,
    nodes: spec.nodes.map((n) => ({
      ...n,
      runtime: n.runtime as NodeRuntime | undefined,
      connection: { ...n.connection, privateKey: pulumi.secret(n.connection.privateKey) },
    })),
  };
}
