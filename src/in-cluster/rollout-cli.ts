/**
 * `node rollout-cli.js wait|remove`, run by the in-cluster component's local command (create/update: wait; delete:
 * remove) with a {@link RolloutRequest} as JSON on stdin (it holds the kubeconfig). Prints the result as JSON; on
 * failure one line per problem on stderr and exit 1, so `pulumi up` shows the node and the reason.
 */
import { removeThroughRollout, waitForRollout, type RolloutRequest } from "./rollout";

export async function runRollout(action: string, stdin: string): Promise<string> {
  const req = JSON.parse(stdin) as RolloutRequest;
  if (action === "wait") return JSON.stringify(await waitForRollout(req, "apply"));
  if (action === "remove") return JSON.stringify(await removeThroughRollout(req));
  throw new Error(`unknown action ${JSON.stringify(action)}: use wait or remove`);
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
