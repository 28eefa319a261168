/**
 * `pulumi package get-schema ./pulumi-package` with the real CLI, offline (no plugin download allowed): the engine
 * runs the package's plugin from source through the Node.js language host and gets the schema the golden file holds.
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PULUMI, pulumiEnv, requireTools, ROOT } from "../e2e/stack";

jest.setTimeout(300_000);

it("get-schema serves the golden schema, offline, from the plugin cache alone", async () => {
  requireTools();
  const state = fs.mkdtempSync(path.join(os.tmpdir(), "regmirror-schema-"));
  try {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        PULUMI,
        ["package", "get-schema", "./pulumi-package", "--non-interactive"],
        { cwd: ROOT, env: pulumiEnv(state, "schema"), maxBuffer: 64 << 20, timeout: 240_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      ),
    );
    const golden = JSON.parse(fs.readFileSync(path.join(ROOT, "test/package/schema.golden.json"), "utf8"));
    // The CLI prints the schema as it bound it: no `optional` (that is `required`), no empty lists of dependencies or required properties, a config.
    const bound = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(bound)
        : v && typeof v === "object"
          ? Object.fromEntries(
              Object.entries(v)
                .filter(
                  ([k, x]) =>
                    k !== "optional" && k !== "config" && !((k === "dependencies" || k === "required") && Array.isArray(x) && x.length === 0),
                )
                .map(([k, x]) => [k, bound(x)]),
            )
          : v;
    expect(bound(JSON.parse(out))).toEqual(bound(golden));
  } finally {
    fs.rmSync(state, { recursive: true, force: true });
  }
});
