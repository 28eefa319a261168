/**
 * Golden files for every seed scenario, plus the properties every plan must have: all TOML parses, rendering is
 * deterministic, and applying a plan's main config then rendering again changes nothing.
 * Regenerate after an intended change with `UPDATE_GOLDEN=1 npx jest test/render/golden`.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "fs";
import { join } from "path";
import { parse } from "smol-toml";
import { renderNodeConfig, type Mirror, type NodePlan } from "../../src";
import { mirrorsInMainConfig } from "../../src/render";
import { SCENARIOS } from "./scenarios";

const GOLDEN_DIR = join(__dirname, "golden");

/** A readable dump of a plan: what a reviewer would want to see. */
function dump(plan: NodePlan): string {
  const parts = plan.files.map((f) => `=== ${f.path} (mode ${f.mode.toString(8)}${f.secret ? ", secret" : ""})\n${f.content}`);
  parts.push(`=== main config: ${plan.mainConfig ? `${plan.mainConfig.path}\n${plan.mainConfig.content}` : "unchanged\n"}`);
  parts.push(`=== action: ${plan.action}\n`);
  parts.push(`=== warnings\n${plan.warnings.map((w) => `- ${w}\n`).join("")}`);
  return parts.join("\n");
}

describe.each(Object.entries(SCENARIOS))("%s", (name, input) => {
  const plan = renderNodeConfig(input);

  it("matches its golden file", () => {
    const file = join(GOLDEN_DIR, `${name}.txt`);
    if (process.env.UPDATE_GOLDEN || !existsSync(file)) {
      mkdirSync(GOLDEN_DIR, { recursive: true });
      writeFileSync(file, dump(plan));
    }
    expect(dump(plan)).toBe(readFileSync(file, "utf8"));
  });

  it("renders TOML that parses", () => {
    for (const f of plan.files.filter((f) => /\.(toml|conf)$/.test(f.path))) expect(() => parse(f.content)).not.toThrow();
    if (plan.mainConfig?.path.endsWith(".toml")) expect(() => parse(plan.mainConfig!.content)).not.toThrow();
    if (plan.mainConfig?.path.endsWith(".json")) expect(() => JSON.parse(plan.mainConfig!.content)).not.toThrow();
  });

  it("is deterministic: rendering twice gives the same bytes", () => {
    expect(renderNodeConfig(structuredClone(input))).toEqual(plan);
  });

  it("converges: after applying the main config, a new render changes nothing", () => {
    if (input.liveConfig === undefined) return expect(plan.mainConfig).toBeUndefined();
    const applied = plan.mainConfig?.content ?? input.liveConfig;
    const ownedFiles = Object.fromEntries(plan.files.map((f) => [f.path, f.content]));
    const again = renderNodeConfig({ ...input, liveConfig: applied, ownedFiles });
    expect(again.mainConfig).toBeUndefined();
    expect(again.files).toEqual(plan.files);
    // Only the runtime's own need remains: CRI-O always reloads its registries, others do nothing.
    expect(again.action).toBe(input.runtime.kind === "cri-o" ? "reload" : "none");
  });

  // The component reads a node again only when mirrorsInMainConfig (or runtime, paths, legacy) changes; any other
  // mirror change is planned from the last read, which is right only if the main config cannot tell the difference.
  it("takes nothing from the mirrors for its main config unless mirrorsInMainConfig says so", () => {
    const other: Mirror[] = [{ upstream: "docker.io", endpoints: [{ url: "https://other-mirror.example:5000" }] }];
    const changed = renderNodeConfig({ ...input, mirrors: other });
    if (mirrorsInMainConfig(input.mirrors, input.runtime.kind, input.legacy) === undefined) {
      expect({ main: changed.mainConfig, action: changed.action }).toEqual({ main: plan.mainConfig, action: plan.action });
    } else {
      expect(input.runtime.kind === "docker" || input.legacy === "write").toBe(true);
    }
  });

  it("keeps secrets in files readable by root only", () => {
    for (const f of plan.files) {
      const holdsSecret = /header\]|PRIVATE KEY|"auth"/.test(f.content);
      expect({ path: f.path, secret: !!f.secret, mode: f.mode }).toEqual({ path: f.path, secret: holdsSecret, mode: holdsSecret ? 0o600 : f.mode });
      if (holdsSecret) expect(f.mode).toBe(0o600);
    }
  });
});
