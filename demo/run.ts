/**
 * `npm run demo` — the README's main command.
 *
 * 1. builds the pinned Go tools (pulumi CLI and its Node.js language host, pulumi-resource-command — installed into
 *    the plugin cache of .tools/pulumi-home —, containerd 2.x, crictl) if they are missing (`scripts/tools.sh`);
 * 2. starts the lab: node1 containerd 1.6, node2 containerd 2.x, node3 CRI-O 1.36, real registries;
 * 3. configures a demo stack of the root program (Pulumi.yaml → program/) — a temp file backend, nothing written
 *    to the repository — with the lab's plain mirror for docker.io and for gcr.io (`fallback: false`), and runs
 *    `pulumi up --yes` with the real engine;
 * 4. per node: pushes a fresh image to the upstream, takes the upstream down, pulls the image on the node (CRI
 *    pull over each node's CRI socket) and checks in the mirror's access log that the
 *    mirror served it;
 * 5. prints a summary table, runs a no-op `pulumi up` (no SSH session) and a mirrors-only change (one SSH session
 *    and no restart per node), and stops the lab (also on failure or Ctrl-C).
 *
 * Environment: REGMIRROR_DEMO_KEEP=1 keeps the stack's temp dir (state, logs) for inspection.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { startLab, type Lab } from "../test/lab";
import { labNodeConfig, missingTools, ProgramStack, ROOT, toolVersions } from "../test/e2e/stack";
import type { NodeReport } from "../src";

const NODES = ["node1", "node2", "node3"];
const t0 = Date.now();
const say = (s: string) => process.stdout.write(`[demo ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${s}\n`);

function ensureTools(): void {
  const tools = path.join(ROOT, "scripts/tools.sh");
  // --check builds nothing: exit 0 when every pinned tool (pulumi, language host, the command plugin in the plugin
  // cache, containerd 2.x, crictl) is present and up to date.
  if (spawnSync(tools, ["--check"], { cwd: ROOT, stdio: "ignore" }).status === 0 && missingTools().length === 0) return;
  say("building the pinned tools with scripts/tools.sh (first run only; cached in .tools/) …");
  const r = spawnSync(tools, [], { cwd: ROOT, stdio: "inherit" });
  if (r.status !== 0) throw new Error(`scripts/tools.sh failed (exit ${r.status}); see its messages above`);
  const still = missingTools();
  if (still.length > 0) throw new Error(`scripts/tools.sh ran but these are still missing: ${still.join(", ")}`);
}

interface Row {
  node: string;
  runtime: string;
  version: string;
  written: string;
  restarted: string;
  probe: string;
  proof: string;
  digest: string;
  servedBy: string;
}

function table(rows: Row[]): string {
  const head: Row = {
    node: "node",
    runtime: "runtime",
    version: "version",
    written: "files written",
    restarted: "restarted?",
    probe: "probe from the node",
    proof: "proof pull (component)",
    digest: "pulled digest",
    servedBy: "served by",
  };
  const keys = Object.keys(head) as (keyof Row)[];
  const width = Object.fromEntries(keys.map((k) => [k, Math.max(...[head, ...rows].map((r) => r[k].length))])) as Record<keyof Row, number>;
  const line = (r: Row) =>
    keys
      .map((k) => r[k].padEnd(width[k]))
      .join("  ")
      .trimEnd();
  return [line(head), keys.map((k) => "-".repeat(width[k])).join("  "), ...rows.map(line)].join("\n");
}

async function pullOnNode(lab: Lab, node: string): Promise<{ digest: string; servedBy: string }> {
  const image = await lab.pushImage("library/demo");
  const mark = lab.requestCount("mirror");
  await lab.upstreamDown();
  let digest: string;
  try {
    digest = (await lab.criPull(node, image.ref)).repoDigest.replace(/^.*@/, "");
  } finally {
    await lab.upstreamUp();
  }
  if (digest !== image.digest) throw new Error(`${node}: pulled ${digest}, pushed ${image.digest}`);
  const served = lab.requestsFor("mirror", image.repo, { from: mark }).filter((r) => r.status === 200);
  const servedBy = served.length > 0 ? `mirror (${served.length} requests, upstream down)` : "NOT the mirror";
  if (served.length === 0) throw new Error(`${node}: the mirror's access log has no request for ${image.repo}`);
  return { digest: `${digest.slice(0, 19)}…`, servedBy };
}

async function main(): Promise<void> {
  ensureTools();
  const v = toolVersions();
  say(`engine: pulumi ${v.pulumi}, pulumi-language-nodejs ${v["pulumi-language-nodejs"]}, pulumi-resource-command ${v["pulumi-resource-command"]}`);
  say("starting the lab (node1 containerd 1.6, node2 containerd 2.x, node3 CRI-O 1.36) …");
  const lab = await startLab({ nodes: 3, waitForOtherLabMs: 900_000 });
  let stack: ProgramStack | undefined;
  let ok = false;
  try {
    const d = lab.describe();
    say(`lab up in ${d.startupMs} ms: ${d.nodes.map((n) => `${n.name} ${n.runtimeVersion}`).join(" · ")}`);
    const mirror = lab.registry("mirror").url;
    stack = new ProgramStack("demo");
    await stack.init();
    const mirrors = [
      { upstream: "docker.io", endpoints: [{ url: mirror }] },
      { upstream: "gcr.io", endpoints: [{ url: mirror }], fallback: false },
    ];
    const nodes = d.nodes.filter((n) => NODES.includes(n.name)).map((n) => labNodeConfig(n));
    // Every apply probes the mirror from the node first, and pulls this image through the mirror alone afterwards.
    const proofImage = await lab.pushImage("library/proof");
    await stack.configure({ mirrors, nodes, verify: { pull: proofImage.ref } });
    say(`stack "demo" of the root program (${stack.project}); mirror for docker.io and gcr.io: ${mirror}; proof image ${proofImage.ref}`);
    say("pulumi up --yes …");
    const up = await stack.run(["up", "--yes"]);
    process.stdout.write(
      up.stdout
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => `    ${l}`)
        .join("\n") + "\n",
    );
    say(`pulumi up done in ${(up.ms / 1000).toFixed(1)} s`);
    const reports = await stack.reports<Record<string, NodeReport>>();

    const rows: Row[] = [];
    for (const node of NODES) {
      say(`${node}: fresh image pushed, upstream down, pulling through the node's runtime …`);
      const pulled = await pullOnNode(lab, node);
      const r = reports[node];
      rows.push({
        node,
        runtime: r.runtime.kind,
        version: r.runtime.version ?? "?",
        written: r.written.map((f) => path.basename(path.dirname(f)) + "/" + path.basename(f)).join(", ") || "-",
        restarted: r.action === "restart" ? "yes (once)" : r.action === "reload" ? "reload" : "no",
        probe: r.probes.map((p) => `${p.result} ${p.latencyMs} ms`).join(", ") || "-",
        proof: r.proof ? `${r.proof.digest.slice(0, 19)}… via ${r.proof.servedBy === mirror ? "mirror" : r.proof.servedBy}` : "-",
        ...pulled,
      });
    }
    const sessions = () => NODES.map((n) => lab.sshSessionCount(n));
    const restarts = () => NODES.map((n) => lab.restartCount(n));
    const s0 = sessions();
    const noop = await stack.run(["up", "--yes", "--skip-preview", "--expect-no-changes"]);
    const s1 = sessions();
    process.stdout.write(`\n${table(rows)}\n\n`);
    say(
      `a second pulumi up: no changes, ${s0.join() === s1.join() ? "no SSH session" : `SSH sessions ${s0} -> ${s1}`} (${(noop.ms / 1000).toFixed(1)} s)`,
    );

    // A mirrors-only change: docker.io gets the namespaced mirror first. hosts.toml files only: no restart, and one
    // SSH session per node (the nodes are not read again).
    await stack.configure({
      mirrors: [{ upstream: "docker.io", endpoints: [{ url: lab.registry("ns-mirror").url }, { url: mirror }] }, mirrors[1]],
      nodes,
      verify: { pull: proofImage.ref },
    });
    const r0 = restarts();
    const change = await stack.run(["up", "--yes", "--skip-preview"]);
    const perNode = sessions().map((n, i) => n - s1[i]);
    const restarted = restarts().map((n, i) => n - r0[i]);
    say(
      `a mirrors-only change: SSH sessions per node ${perNode.join(", ")}; runtime restarts ${restarted.join(", ")} (${(change.ms / 1000).toFixed(1)} s)`,
    );
    if (perNode.some((n) => n !== 1) || restarted.some((n) => n !== 0))
      throw new Error("the mirrors-only change did not take exactly one SSH session and no restart per node");
    ok = true;
  } finally {
    if (stack) {
      // The lab is thrown away, so no destroy; the stack's temp state goes with it.
      if (process.env.REGMIRROR_DEMO_KEEP === "1") say(`kept ${stack.dir}`);
      else fs.rmSync(stack.dir, { recursive: true, force: true });
    }
    say("stopping the lab …");
    await lab.stop();
    say(ok ? "demo OK" : "demo FAILED");
  }
}

main().catch((e) => {
  process.stderr.write(`\ndemo failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
