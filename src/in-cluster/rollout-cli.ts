/**
 * `node rollout-cli.js wait|remove|read|forget`, run by the in-cluster component's local commands with a request as
 * JSON on stdin (it holds the kubeconfig): the rollout (create/update: wait; delete: remove, a {@link RolloutRequest})
 * and, with config edits, the read step (create/update: read; delete: forget, a {@link ReadRequest}). Prints the
 * result as JSON; on failure one line per problem on stderr and exit 1, so `pulumi up` shows the node and the reason.
 */
import { forgetNodes, readAndPlanNodes, type ReadRequest } from "./read";
import { removeThroughRollout, waitForRollout, type RolloutRequest } from "./rollout";

export async function runRollout(action: string, stdin: string): Promise<string> {
  if (action === "wait") return JSON.stringify(await waitForRollout(JSON.parse(stdin) as RolloutRequest, "apply"));
  if (action === "remove") return JSON.stringify(await removeThroughRollout(JSON.parse(stdin) as RolloutRequest));
  if (action === "read") return JSON.stringify(await readAndPlanNodes(JSON.parse(stdin) as ReadRequest));
  if (action === "forget") return JSON.stringify(await forgetNodes(JSON.parse(stdin) as ReadRequest));
  throw new Error(`unknown action ${JSON.stringify(action)}: use wait, remove, read or forget`);
}

if (require.main === module) {
  const chunks: Buffer[] = [];
  process.stdin.on("data", (c: Buffer) => chunks.push(c));
  process.stdin.on("end", () => {
    runRollout(process.argv[2] ?? "", Buffer.concat(chunks).toString("utf8")).then(
      (out) => process.stdout.write(`${out}\n`),
      (e: unknown) => {
        process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
        process.exitCode = 1;
      },
    );
  });
}
