import { parse } from "smol-toml";
import type { NodePlan } from "../render/types";
import { firstDifference } from "../render/toml-text";

/**
 * Compares the TOML files read back from a node with the plan, semantically (parsed by smol-toml): returns one
 * readable line per mismatch, empty when everything matches.
 */
export function verifyReadBack(plan: NodePlan, readBack: Record<string, string>): string[] {
  const expected = new Map(plan.files.map((f) => [f.path, f.content]));
  if (plan.mainConfig) expected.set(plan.mainConfig.path, plan.mainConfig.content);
  const problems: string[] = [];
  for (const [path, want] of expected) {
    if (!path.endsWith(".toml") && !path.endsWith(".conf")) continue;
    const got = readBack[path];
    if (got === undefined) {
      problems.push(`${path}: not read back from the node`);
      continue;
    }
    try {
      const diff = firstDifference(parse(want), parse(got));
      if (diff !== undefined) problems.push(`${path}: "${diff}" differs from the plan`);
    } catch (e) {
      problems.push(`${path}: does not parse as TOML on the node (${(e as Error).message.split("\n")[0]})`);
    }
  }
  return problems;
}
