/** Reading the files the CLI is given: a spec (YAML or JSON holding `mirrors`), a file or a directory to import. */
import { readFileSync, readdirSync, statSync } from "fs";
import { dirname, extname, isAbsolute, join, resolve } from "path";
import { isPlainObject, parseYamlDocuments } from "../convert/common";
import { RegistryMirrorsError, type Mirror, type Problem } from "../model/types";
import { findProblems } from "../model/validate";

/** A problem the CLI reports as one line; `file` says which input it is about. */
export interface CliProblem extends Problem {
  readonly file?: string;
}

/** Thrown for input the CLI cannot use; its problems are printed one per line, exit code 1. */
export class InputError extends Error {
  constructor(readonly problems: readonly CliProblem[]) {
    super(problems.map((p) => `${p.path}: ${p.message}`).join("\n"));
  }
}

/** Thrown for a wrong command line; printed with a pointer to `--help`, exit code 2. */
export class UsageError extends Error {}

/** Reads a text file, or fails with a one-line problem naming it. */
export function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "does not exist" : code === "EISDIR" ? "is a directory, not a file" : `cannot be read (${code ?? (e as Error).message})`;
    throw new InputError([{ file, path: file, message: why }]);
  }
}

/** The problems of a RegistryMirrorsError, each tagged with the input file. */
export function fromRegistryError(e: RegistryMirrorsError, file: string): InputError {
  return new InputError(e.problems.map((p) => ({ ...p, file })));
}

/**
 * Reads a spec file: YAML (or JSON, by the `.json` extension) holding `mirrors: [...]`, validated with our rules.
 *
 * @throws InputError listing every problem, each with its field path.
 */
export function readSpecFile(file: string): Mirror[] {
  const text = readText(file);
  let doc: unknown;
  if (extname(file).toLowerCase() === ".json") {
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new InputError([{ file, path: file, message: `is not valid JSON: ${(e as Error).message}` }]);
    }
  } else {
    try {
      const docs = parseYamlDocuments(text, file);
      if (docs.length > 1)
        throw new InputError([{ file, path: file, message: "holds several YAML documents; a spec is one document with mirrors: [...]" }]);
      doc = docs[0];
    } catch (e) {
      if (e instanceof RegistryMirrorsError) throw fromRegistryError(e, file);
      throw e;
    }
  }
  if (!isPlainObject(doc)) throw new InputError([{ file, path: "(document)", message: "must be a map holding mirrors: [...]" }]);
  const problems: CliProblem[] = Object.keys(doc)
    .filter((key) => key !== "mirrors")
    .map((key) => ({ file, path: key, message: "is not a spec field; a spec file holds only mirrors: [...]" }));
  problems.push(...findProblems(doc.mirrors).map((p) => ({ ...p, file })));
  if (problems.length > 0) throw new InputError(problems);
  return doc.mirrors as Mirror[];
}

/** Every file under a directory, by path relative to it (what the directory importers read). */
export function readTree(dir: string, prefix = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    const rel = prefix ? `${prefix}/${name}` : name;
    if (statSync(full).isDirectory()) Object.assign(out, readTree(full, rel));
    else out[rel] = readFileSync(full, "utf8");
  }
  return out;
}

/** True when the path is a directory. */
export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * A `readFile` for the importers: paths as the source wrote them, relative ones against the source's directory,
 * absolute ones below `root` when given (a node's file system copied or mounted elsewhere).
 */
export function referencedFileReader(source: string, root?: string): (path: string) => string | undefined {
  const base = isDirectory(source) ? source : dirname(source);
  return (path) => {
    try {
      return readFileSync(isAbsolute(path) ? (root ? join(root, path) : path) : resolve(base, path), "utf8");
    } catch {
      return undefined;
    }
  };
}
