/**
 * The published package as `npm run build` makes it: src only (no tests, bench or demo), with the node agent's shell
 * files beside the compiled module that reads them, and a working public API.
 */
import { execFileSync } from "child_process";
import { existsSync, readdirSync, readFileSync } from "fs";
import { join } from "path";

const ROOT = join(__dirname, "../..");
const DIST = join(ROOT, "dist");

it("builds from src alone, ships the agent's shell files, and renders through the built module", () => {
  execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "pipe" });
  expect(readdirSync(DIST).sort()).toEqual([
    "cli",
    "component",
    "convert",
    "in-cluster",
    "index.d.ts",
    "index.js",
    "index.js.map",
    "kubernetes",
    "model",
    "node",
    "render",
  ]);
  expect(readdirSync(join(DIST, "node/agent")).sort()).toEqual(readdirSync(join(ROOT, "src/node/agent")).sort());
  // The in-cluster component's local command runs this file of the built package.
  expect(existsSync(join(DIST, "in-cluster/rollout-cli.js"))).toBe(true);
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { main: string; types: string };
  expect(existsSync(join(ROOT, pkg.main))).toBe(true);
  expect(existsSync(join(ROOT, pkg.types))).toBe(true);
  const out = execFileSync(
    process.execPath,
    [
      "-e",
      `const rm = require(${JSON.stringify(DIST)});
       const plan = rm.renderNodeConfig({ mirrors: [{ upstream: "docker.io", endpoints: [{ url: "https://m.internal" }] }], runtime: { kind: "containerd", version: "1.7.22" }, liveConfig: "" });
       const { readCommand } = require(${JSON.stringify(join(DIST, "node/protocol"))});
       console.log(JSON.stringify({ exports: Object.keys(rm).sort(), file: plan.files[0].path, agent: readCommand({ node: "n" }, rm.resolvePaths({})).includes("RM-RUNTIME") }));`,
    ],
    { encoding: "utf8" },
  );
  const seen = JSON.parse(out) as { exports: string[]; file: string; agent: boolean };
  expect(seen.file).toBe("/etc/containerd/certs.d/docker.io/hosts.toml");
  expect(seen.agent).toBe(true);
  expect(seen.exports).toEqual(
    expect.arrayContaining(["RegistryMirrors", "RegistryMirrorsError", "renderNodeConfig", "validateMirrors", "VerifyMode", "RuntimeKind"]),
  );
  expect(seen.exports).not.toContain("restartPredecessor");
}, 120_000);
