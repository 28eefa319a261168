import * as pulumi from "@pulumi/pulumi";
import type { PlannedFile } from "../render/types";
import { sha256 } from "../node/shell";
import { RegistryMirrorsError, type Problem } from "../model/types";

/**
 * Two components of one program that write one path of one node with different content would take it from each
 * other on every run (an earlier instance of the same stack is handed its files, see the node agent): refused here.
 */
const claimsByRun = new WeakMap<object, Map<string, { component: string; sha: string }>>();
export function claimInProgram(address: string, component: string, node: string, index: number, files: PlannedFile[]): void {
  // Per program run (its resource monitor): an Automation API process runs many, of other stacks or other names.
  const run = (pulumi.runtime.getMonitor() ?? claimsByRun) as object;
  const programClaims = claimsByRun.get(run) ?? new Map<string, { component: string; sha: string }>();
  claimsByRun.set(run, programClaims);
  const clashes: Problem[] = [];
  for (const file of files) {
    const key = `${address} ${file.path}`;
    const sha = sha256(file.content);
    const other = programClaims.get(key);
    if (other && other.component !== component && other.sha !== sha) {
      clashes.push({
        path: `nodes[${index}]`,
        message: `${file.path} on ${address} is also written, with other content, by the component ${other.component} of this program; configure each upstream of a node in one component`,
      });
    } else if (!other) programClaims.set(key, { component, sha });
  }
  if (clashes.length > 0) throw new RegistryMirrorsError(clashes, `node ${node}: two components of this program configure the same upstream`);
}
