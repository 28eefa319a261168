/**
 * The id under which a component owns files on a node: readable (`project/stack/name`, shown in every message and
 * accepted by `takeOver`) plus a short hash of its URN, so that a component moved under another parent (same name,
 * new URN) is a different instance from the one Pulumi deletes after creating it.
 */
import * as pulumi from "@pulumi/pulumi";
import type { InstanceOwner } from "../node/protocol";
import { sha256 } from "../node/shell";

/** What an instance id may hold: letters, digits, `.`, `_`, `-` in each of its three parts. */
export const INSTANCE_NAME_PATTERN = /^[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+$/;

/** A name made safe for the node's manifest (no spaces, commas, slashes or quotes). */
function idPart(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, "_") || "_";
}

/** `project/stack/name` of a component in this program. */
export function instanceName(project: string, stack: string, name: string): string {
  return `${idPart(project)}/${idPart(stack)}/${idPart(name)}`;
}

/**
 * The owner of a component's files. `aliases` with a plain name or URN become ids the instance retires (owns as
 * its own), so that `aliases` on a rename keeps ownership without a hand-over.
 */
export function instanceOwner(args: {
  project: string;
  stack: string;
  name: string;
  urn: string;
  takeOver?: string[];
  aliases?: pulumi.ComponentResourceOptions["aliases"];
}): InstanceOwner {
  const retire = new Set<string>();
  for (const alias of args.aliases ?? []) {
    if (typeof alias === "string") {
      // urn:pulumi:stack::project::type::name
      const parts = alias.split("::");
      const stack = parts[0]?.split(":")[2];
      if (parts.length >= 4 && stack) retire.add(instanceName(parts[1], stack, parts[parts.length - 1]));
    } else if (alias && typeof alias === "object" && !pulumi.Output.isInstance(alias)) {
      const a = alias as pulumi.Alias;
      const plain = (v: unknown, fallback: string) => (typeof v === "string" ? v : fallback);
      retire.add(instanceName(plain(a.project, args.project), plain(a.stack, args.stack), plain(a.name, args.name)));
    }
  }
  // An alias keeping the name (a move under another parent) retires the old URN's hash: the name stays listed.
  const name = instanceName(args.project, args.stack, args.name);
  return {
    id: `${name}#${sha256(args.urn).slice(0, 8)}`,
    peers: `${idPart(args.project)}/${idPart(args.stack)}/`,
    takeOver: args.takeOver ?? [],
    retire: [...retire],
  };
}
