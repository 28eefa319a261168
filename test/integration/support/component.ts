/**
 * The RegistryMirrors component on lab nodes through the test driver (test/driver): a lab node as a component node,
 * and one `pulumi up` of a stack holding one component, with its errors and reports.
 */
import { readFileSync } from "fs";
import type { Mirror, NodeReport } from "../../../src";
import type { ForkedDriver, StackSpec } from "../../driver/forked";
import type { Lab } from "../../lab";

export type DriverNode = StackSpec["nodes"][number];

/** A lab node as the component's node: its SSH connection with the pinned host key, failing fast when it is down. */
export function labNode(lab: Lab, name: string, runtime: string, extra: Partial<DriverNode> = {}): DriverNode {
  const d = lab.node(name);
  return {
    name,
    connection: {
      host: d.host,
      port: d.port,
      user: d.user,
      privateKey: readFileSync(d.privateKeyPath, "utf8"),
      hostKey: d.hostKey,
      dialErrorLimit: 1,
      perDialTimeout: 5,
    },
    runtime,
    ...extra,
  };
}

/** Runs one `pulumi up` of a stack holding one RegistryMirrors; its errors joined, and its reports. */
export async function upStack(driver: ForkedDriver, mirrors: Mirror[], nodes: DriverNode[], extra: Record<string, unknown> = {}) {
  const result = await driver.up({ mirrors, nodes, extra });
  return { ...result, message: result.errors.join("\n"), reports: result.value as Record<string, NodeReport> | undefined };
}
