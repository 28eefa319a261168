/**
 * shellcheck over what runs on a node: every command the builder makes (read, apply with files in the command and on
 * stdin, remove), as the node's shell gets it (header, library, steps), and the wrapper around it.
 */
import { execFileSync, spawnSync } from "child_process";
import { readdirSync } from "fs";
import { renderNodeConfig, resolvePaths } from "../../src";
import { AGENT_DIR } from "../../src/node/agent";
import { applyCommand, readCommand, removeCommand, type NodeTarget } from "../../src/node/protocol";
import { parseImageReference, type ImageReference } from "../../src/node/checks";

const paths = resolvePaths({});
const target: NodeTarget = {
  node: "node-1",
  owner: { id: "infra/prod/mirrors#0123abcd", peers: "infra/prod/", takeOver: ["infra/team/mirrors"], retire: ["infra/prod/old"] },
};
const plan = renderNodeConfig({
  mirrors: [
    { upstream: "docker.io", endpoints: [{ url: "https://harbor.internal/v2/dockerhub", auth: { username: "robot", password: "s3cret" } }] },
    { upstream: "quay.io", endpoints: [{ url: "http://10.0.0.5:5000" }] },
  ],
  runtime: { kind: "containerd", version: "1.7.20" },
  liveConfig: "version = 2\n",
  paths,
});

/** The script inside the asRoot wrapper: what `sh -c` runs on the node. */
function inner(command: string): string {
  const m = /^RM_SCRIPT="\$\(cat <<'(RM_SCRIPT_[0-9a-f_]+)'\n([\s\S]*)\n\1\n\)"\n/.exec(command);
  if (!m) throw new Error("not an asRoot command");
  return m[2];
}

const commands: Record<string, string> = {
  read: readCommand(target, paths, "containerd"),
  "read (auto)": readCommand(target, paths),
  apply: applyCommand({ ...target, runtime: "containerd", paths, plan, readMain: { path: paths.containerdConfig, sha256: "absent" } }).command,
  "apply (checks)": applyCommand({
    ...target,
    runtime: "containerd",
    paths,
    plan,
    readMain: { path: paths.containerdConfig, sha256: "absent" },
    checks: { effective: `containerd ${paths.hostsDir}`, proof: { image: parseImageReference("busybox") as ImageReference, attempts: [] } },
  }).command,
  "apply (cri-o)": applyCommand({
    ...target,
    runtime: "cri-o",
    paths,
    plan: renderNodeConfig({ mirrors: [{ upstream: "gcr.io", endpoints: [{ url: "https://m.internal" }] }], runtime: { kind: "cri-o" }, paths }),
  }).command,
  remove: removeCommand(target, "containerd"),
};

function shellcheck(script: string): string {
  const r = spawnSync("shellcheck", ["-s", "sh", "-S", "warning", "-"], { input: script, encoding: "utf8" });
  if (r.error) throw new Error(`shellcheck is missing (${r.error.message}): run scripts/setup.sh`);
  return r.stdout;
}

it("the agent is real shell files", () => {
  expect(readdirSync(AGENT_DIR).sort()).toEqual([
    "apply-begin.sh",
    "apply-commit.sh",
    "apply-stage-bundle.sh",
    "checks.sh",
    "lib.sh",
    "read.sh",
    "remove.sh",
  ]);
  expect(execFileSync("shellcheck", ["--version"], { encoding: "utf8" })).toMatch(/version: \d/);
});

it.each(Object.keys(commands))("%s: shellcheck -s sh finds nothing in the script or in its wrapper", (name) => {
  expect(shellcheck(inner(commands[name]))).toBe("");
  expect(shellcheck(commands[name])).toBe("");
});
