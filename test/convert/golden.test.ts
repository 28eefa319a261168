/**
 * Golden cases of every converter, starting from the examples of each format's own documentation (see the case
 * inputs' comments). A case is a directory under golden/: `import-<format>-<name>` holds `input.*` (a file) or
 * `input/` (a directory), optionally `files/` (what the source's file references read: files/root/ca.crt is
 * /root/ca.crt) and `options.json`; `export-<format>-<name>` holds `spec.yaml` and optionally `options.json`. The
 * expected output is `expected.txt`. Regenerate after an intended change with
 * `UPDATE_GOLDEN=1 npx jest test/convert/golden`, then read the diff.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "fs";
import { join } from "path";
import { stringify } from "yaml";
import { RegistryMirrorsError } from "../../src";
import { EXPORT_FORMATS, IMPORT_FORMATS, type AnyImportOptions, type ImportSource } from "../../src/convert";
import { meaning, readSpec, readTree } from "./helpers";

const GOLDEN = join(__dirname, "golden");

/** The format a case directory names (the longest known format after the direction). */
function formatOf(name: string, formats: readonly string[]): string {
  const rest = name.replace(/^(import|export)-/, "");
  const format = formats.filter((f) => rest.startsWith(`${f}-`)).sort((a, b) => b.length - a.length)[0];
  if (!format) throw new Error(`case ${name} names no known format`);
  return format;
}

/** Runs a conversion; a RegistryMirrorsError becomes its problem list, as the CLI prints it. */
function outcome(run: () => string): string {
  try {
    return run();
  } catch (e) {
    if (!(e instanceof RegistryMirrorsError)) throw e;
    return `error: ${e.message.split("\n")[0]}\n${e.problems.map((p) => `${p.path}: ${p.message}\n`).join("")}`;
  }
}

function options(dir: string): Record<string, unknown> {
  const file = join(dir, "options.json");
  return existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : {};
}

function importCase(dir: string, format: string): string {
  const inputDir = join(dir, "input");
  const inputFile = readdirSync(dir).find((f) => f.startsWith("input."));
  const source: ImportSource = existsSync(inputDir)
    ? { kind: "dir", files: readTree(inputDir) }
    : { kind: "text", text: readFileSync(join(dir, inputFile!), "utf8") };
  const files = existsSync(join(dir, "files")) ? readTree(join(dir, "files")) : {};
  const opts: AnyImportOptions = { ...options(dir), readFile: (path) => files[path.replace(/^\//, "")] };
  return outcome(() => {
    const result = IMPORT_FORMATS[format].run(source, opts);
    return `${stringify({ mirrors: result.mirrors }, { lineWidth: 0, aliasDuplicateObjects: false })}\n# notes\n${result.notes.map((n) => `${n.path}: ${n.message}\n`).join("")}`;
  });
}

function exportCase(dir: string, format: string): string {
  const mirrors = readSpec(join(dir, "spec.yaml"));
  return outcome(() => {
    const result = EXPORT_FORMATS[format].run(mirrors, options(dir));
    return [result.text, ...result.files.map((f) => `# file ${f.path} (mode ${f.mode.toString(8)})\n${f.content}`)].join("\n");
  });
}

const cases = readdirSync(GOLDEN).sort();

describe.each(cases)("%s", (name) => {
  const dir = join(GOLDEN, name);
  const isImport = name.startsWith("import-");
  const format = formatOf(name, Object.keys(isImport ? IMPORT_FORMATS : EXPORT_FORMATS));
  const actual = isImport ? importCase(dir, format) : exportCase(dir, format);

  it("matches expected.txt", () => {
    const file = join(dir, "expected.txt");
    if (process.env.UPDATE_GOLDEN || !existsSync(file)) writeFileSync(file, actual);
    expect(actual).toBe(readFileSync(file, "utf8"));
  });

  if (!isImport && !actual.startsWith("error:")) {
    it(`imports back from ${format} to a spec that means the same`, () => {
      const mirrors = readSpec(join(dir, "spec.yaml"));
      const exported = EXPORT_FORMATS[format].run(mirrors, options(dir));
      const files = Object.fromEntries(exported.files.map((f) => [f.path, f.content]));
      const back = IMPORT_FORMATS[format].run({ kind: "text", text: exported.text }, { ...options(dir), readFile: (p) => files[p] });
      expect(back.notes).toEqual([]);
      expect(meaning(back.mirrors)).toEqual(meaning(mirrors));
    });
  }
});

it("has a golden case for every import and export format", () => {
  for (const format of Object.keys(IMPORT_FORMATS)) expect(cases.some((c) => c.startsWith(`import-${format}-`))).toBe(true);
  for (const format of Object.keys(EXPORT_FORMATS)) expect(cases.some((c) => c.startsWith(`export-${format}-`))).toBe(true);
});
