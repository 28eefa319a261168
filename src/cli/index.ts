#!/usr/bin/env node
/**
 * The `registry-mirrors` command: validate a spec, render what it writes on a node, diff two specs' files for a
 * pull request, and convert from and to neighbouring tools' formats. Exit codes: 0 done, 1 problems with the input
 * (one line each, with its field path), 2 a wrong command line.
 */
import { mkdirSync, writeFileSync } from "fs";
import { dirname, join } from "path";
import { parseArgs } from "util";
import { EXPORT_FORMATS, IMPORT_FORMATS, type AnyImportOptions } from "../convert";
import { toYaml } from "../convert/common";
import { isRancherDistribution, mainConfigPath } from "../model/runtimes";
import { DEFAULT_PATHS, RegistryMirrorsError, type RuntimeInfo } from "../model/types";
import { normalizeVersion } from "../model/version";
import { listPodImages, suggestMirrors } from "../kubernetes/suggest";
import { runRollout } from "../in-cluster/rollout-cli";
import { renderNodeConfig } from "../render";
import { planFiles, shownContent, unifiedDiff } from "./files";
import {
  InputError,
  UsageError,
  fromRegistryError,
  isDirectory,
  readSpecFile,
  readText,
  readTree,
  referencedFileReader,
  type CliProblem,
} from "./spec-file";

/** Where a command writes; injectable so tests can run {@link main} in-process too. */
export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const RUNTIMES: Readonly<Record<string, RuntimeInfo["kind"]>> = {
  containerd: "containerd",
  "cri-o": "cri-o",
  crio: "cri-o",
  docker: "docker",
  k3s: "k3s",
  rke2: "rke2",
};

const HELP: Readonly<Record<string, string>> = {
  main: `Usage: registry-mirrors <command> [options]

Configure container registry mirrors from one spec (YAML or JSON holding mirrors: [...]).

Commands:
  validate <spec.yaml>                        check a spec; one line per problem with its field path
  render <spec.yaml> --runtime <kind@version> print (or write) every file a node gets
  diff <old.yaml> <new.yaml> --runtime <…>    unified diff of every file that changes, for a pull request
  import <format> <file-or-dir>               convert another tool's format into a spec (notes on stderr)
  export <format> <spec.yaml>                 convert a spec into another tool's format
  suggest --kubeconfig <file> [--spec <…>]    registries the cluster's pods pull from, and a spec covering them
  rollout wait|remove|read|forget             RegistryMirrorsInCluster's rollout and read step (run by Pulumi)

Run "registry-mirrors <command> --help" for a command's options.
Exit codes: 0 done, 1 problems with the input, 2 wrong usage.
`,
  suggest: `Usage: registry-mirrors suggest --kubeconfig <file> [--context <name>] [--spec <spec.yaml>] [--mirror <url>]

Reads every pod of the cluster (all namespaces; init and ephemeral containers too) and prints, on stderr, each
registry its images come from with the number of containers and pods and which mirror of the spec covers it; on
stdout, a spec: the given spec's mirrors plus one proposed mirror per registry none covers, pointing at
<url>/v2/<registry> (Harbor's proxy-cache projects; edit the URLs). Docker Hub short names count as docker.io.

  --kubeconfig <file>  the cluster's kubeconfig (required)
  --context <name>     its context (default: current-context)
  --spec <spec.yaml>   the spec in use, to see what it covers already
  --mirror <url>       the proxy cache of the proposal (default https://harbor.example.com)
`,
  rollout: `Usage: registry-mirrors rollout wait|remove|read|forget < request.json

What RegistryMirrorsInCluster's local command runs (this package's copy is used where it is installed at the same
path; this command where the state is destroyed from another checkout). Reads a request (kubeconfig, namespace,
DaemonSet name, config hash, timeout) as JSON on stdin. wait: until every node's pod of that config is Ready, or the
first failing node with its reason. remove: rolls every node back to its previous files, then waits the same way.
With allowConfigEdits: read runs a short-lived DaemonSet that reads every node (sealed to this command's key) and
writes each node's plan into the Secret <name>-nodes; forget deletes that Secret.
`,
  validate: `Usage: registry-mirrors validate <spec.yaml>

Checks a spec with the same rules as the Pulumi component. Prints "ok" and exits 0, or prints one line per
problem ("<file>: <field path>: <what to do>") on stderr and exits 1.
`,
  render: `Usage: registry-mirrors render <spec.yaml> --runtime <kind[@version]> [--live <config>] [--out <dir>] [--show-secrets]

Prints every file the spec writes on a node of that runtime, each under a "==> <path>" line.

  --runtime <kind[@version]>  containerd@2.0, containerd@1.7, cri-o, docker@24.0, k3s@1.31, rke2@1.31 (required)
  --live <file>               the node's current main config (containerd config.toml, Docker daemon.json,
                              k3s/RKE2 registries.yaml), so the edit of it is shown too
  --out <dir>                 write the files under <dir> (<dir>/etc/containerd/…) with their modes instead
  --show-secrets              print files holding credentials or keys (masked by a hash otherwise)
`,
  diff: `Usage: registry-mirrors diff <old.yaml> <new.yaml> --runtime <kind[@version]> [--live <config>] [--show-secrets]

Renders both specs for the same node and prints a unified diff (git style) of every file that changes: paste it
into a pull request. Files with secrets show as a hash line that changes when they do.

  --runtime <kind[@version]>  as for render (required)
  --live <file>               the node's current main config
  --show-secrets              diff secret files in clear text
`,
  import: `Usage: registry-mirrors import <format> <file-or-dir> [--root <dir>] [--default-endpoint-disabled] [--hosts-dir <path>]

Prints the spec as YAML on stdout; every source field without an equivalent is a "note:" line on stderr.
Files the source refers to (CA paths, Docker config.json) are read relative to the source.

Formats:
${Object.entries(IMPORT_FORMATS)
  .map(([name, f]) => `  ${name.padEnd(16)} ${f.description} (reads a ${f.reads.replace(/-/g, " ")})`)
  .join("\n")}

  --root <dir>                 read absolute file references below <dir> (a copy of the node's file system)
  --default-endpoint-disabled  k3s: the nodes run with --disable-default-registry-endpoint (fallback: false)
  --hosts-dir <path>           certs-d: where the directory is on the node (default /etc/containerd/certs.d)
`,
  export: `Usage: registry-mirrors export <format> <spec.yaml> [--out <dir>] [--default-endpoint-disabled] [--cert-dir <path>]

Prints the document on stdout. What the format cannot express is an error naming the spec's field.

Formats:
${Object.entries(EXPORT_FORMATS)
  .map(([name, f]) => `  ${name.padEnd(10)} ${f.description}`)
  .join("\n")}

  --out <dir>                  write the document and the files it refers to under <dir>
  --default-endpoint-disabled  k3s: the nodes run with --disable-default-registry-endpoint
  --cert-dir <path>            k3s: where certificate files go (default /etc/rancher/k3s/registry-mirrors)
`,
};

/** File name of an exported document under `--out`. */
const EXPORT_FILE: Readonly<Record<string, string>> = {
  gardener: "mirror-config.yaml",
  talos: "talos-registries-patch.yaml",
  k3s: "registries.yaml",
};

/** Parses a command's options; unknown options and a wrong argument count are usage errors. */
function parse(command: string, args: string[], options: Record<string, { type: "string" | "boolean" }>, positionals: number) {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${command}: ${(e as Error).message.split("\n")[0]}`);
  }
  if (parsed.values.help) return undefined;
  if (parsed.positionals.length !== positionals) {
    throw new UsageError(`${command}: expects ${positionals} argument${positionals === 1 ? "" : "s"}, got ${parsed.positionals.length}`);
  }
  return { values: parsed.values as Record<string, string | boolean | undefined>, positionals: parsed.positionals };
}

/** `containerd@2.0` → the renderer's runtime. */
function parseRuntime(text: string | boolean | undefined): RuntimeInfo {
  if (typeof text !== "string") throw new UsageError("--runtime is required, e.g. --runtime containerd@2.0 (or cri-o, docker@24.0)");
  const [kindText, versionText] = text.split("@", 2);
  const kind = RUNTIMES[kindText.toLowerCase()];
  if (!kind) throw new UsageError(`--runtime: unknown runtime "${kindText}"; use containerd, cri-o, docker, k3s or rke2`);
  if (versionText === undefined) return { kind };
  const version = normalizeVersion(versionText);
  if (!version) throw new UsageError(`--runtime: "${versionText}" is not a version; write e.g. containerd@2.0 or containerd@1.7.22`);
  return { kind, version };
}

/** Renders a spec file for a node; renderer problems name the spec file. */
function renderFor(file: string, runtime: RuntimeInfo, live: string | undefined) {
  const mirrors = readSpecFile(file);
  try {
    // k3s/RKE2 nodes have no registries.yaml until one is written: without --live, show the file as it would be new.
    return renderNodeConfig({ mirrors, runtime, liveConfig: live ?? (isRancherDistribution(runtime.kind) ? "" : undefined) });
  } catch (e) {
    if (e instanceof RegistryMirrorsError) throw fromRegistryError(e, file);
    throw e;
  }
}

/** The live main config as a file, for diffs where the plan leaves it alone. */
function liveFile(runtime: RuntimeInfo, live: string | undefined): { path: string; content: string } | undefined {
  const path = live === undefined ? undefined : mainConfigPath(runtime.kind, DEFAULT_PATHS);
  return path === undefined || live === undefined ? undefined : { path, content: live };
}

/** Writes files under a directory, keeping their absolute paths below it and their modes. */
function writeUnder(dir: string, files: readonly { path: string; content: string; mode: number }[]): void {
  for (const file of files) {
    const target = join(dir, file.path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, file.content, { mode: file.mode });
  }
}

function validate(args: string[], io: Io): number {
  const p = parse("validate", args, {}, 1);
  if (!p) return help("validate", io);
  const mirrors = readSpecFile(p.positionals[0]);
  io.out(`ok: ${p.positionals[0]} (${mirrors.length} mirror${mirrors.length === 1 ? "" : "s"})\n`);
  return 0;
}

function render(args: string[], io: Io): number {
  const p = parse(
    "render",
    args,
    { runtime: { type: "string" }, live: { type: "string" }, out: { type: "string" }, "show-secrets": { type: "boolean" } },
    1,
  );
  if (!p) return help("render", io);
  const runtime = parseRuntime(p.values.runtime);
  const live = typeof p.values.live === "string" ? readText(p.values.live) : undefined;
  const plan = renderFor(p.positionals[0], runtime, live);
  const files = planFiles(plan);
  for (const warning of plan.warnings) io.err(`warning: ${warning}\n`);
  if (typeof p.values.out === "string") {
    writeUnder(p.values.out, files);
    io.out(`wrote ${files.length} file${files.length === 1 ? "" : "s"} under ${p.values.out}; then: ${plan.action}\n`);
    return 0;
  }
  for (const file of files) {
    const tags = [`mode ${file.mode.toString(8)}`, ...(file.main ? ["main config"] : []), ...(file.secret ? ["secret"] : [])];
    io.out(`==> ${file.path} (${tags.join(", ")})\n${shownContent(file, p.values["show-secrets"] === true)}\n`);
  }
  io.out(
    `==> then: ${plan.action}${plan.mainConfig ? "" : live === undefined ? " (main config not read: pass --live to see its edit)" : " (main config unchanged)"}\n`,
  );
  return 0;
}

function diff(args: string[], io: Io): number {
  const p = parse("diff", args, { runtime: { type: "string" }, live: { type: "string" }, "show-secrets": { type: "boolean" } }, 2);
  if (!p) return help("diff", io);
  const runtime = parseRuntime(p.values.runtime);
  const live = typeof p.values.live === "string" ? readText(p.values.live) : undefined;
  const [oldFile, newFile] = p.positionals;
  // Both files are checked before either is rendered, so every problem of both is reported at once.
  const problems: CliProblem[] = [];
  const plans = [oldFile, newFile].map((file) => {
    try {
      return renderFor(file, runtime, live);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      problems.push(...e.problems);
      return undefined;
    }
  });
  if (problems.length > 0) throw new InputError(problems);
  const [before, after] = plans.map((plan) => planFiles(plan!, liveFile(runtime, live)));
  io.out(unifiedDiff(before, after, p.values["show-secrets"] === true));
  return 0;
}

function importCommand(args: string[], io: Io): number {
  const p = parse("import", args, { "default-endpoint-disabled": { type: "boolean" }, "hosts-dir": { type: "string" }, root: { type: "string" } }, 2);
  if (!p) return help("import", io);
  const [formatName, source] = p.positionals;
  const format = IMPORT_FORMATS[formatName];
  if (!format) throw new UsageError(`import: unknown format "${formatName}"; use one of ${Object.keys(IMPORT_FORMATS).join(", ")}`);
  const dir = isDirectory(source);
  if (dir && format.reads === "file") throw new UsageError(`import ${formatName}: reads a file, and ${source} is a directory`);
  if (!dir && format.reads === "dir") throw new UsageError(`import ${formatName}: reads a directory, and ${source} is not one`);
  const options: AnyImportOptions = {
    readFile: referencedFileReader(source, typeof p.values.root === "string" ? p.values.root : undefined),
    defaultEndpointDisabled: p.values["default-endpoint-disabled"] === true,
    ...(typeof p.values["hosts-dir"] === "string" ? { hostsDir: p.values["hosts-dir"] } : {}),
  };
  let result;
  try {
    result = format.run(dir ? { kind: "dir", files: readTree(source) } : { kind: "text", text: readText(source) }, options);
  } catch (e) {
    if (e instanceof RegistryMirrorsError) throw fromRegistryError(e, source);
    throw e;
  }
  for (const note of result.notes) io.err(`note: ${source}: ${note.path}: ${note.message}\n`);
  io.out(toYaml({ mirrors: result.mirrors }));
  return 0;
}

function exportCommand(args: string[], io: Io): number {
  const p = parse("export", args, { out: { type: "string" }, "default-endpoint-disabled": { type: "boolean" }, "cert-dir": { type: "string" } }, 2);
  if (!p) return help("export", io);
  const [formatName, specFile] = p.positionals;
  const format = EXPORT_FORMATS[formatName];
  if (!format) throw new UsageError(`export: unknown format "${formatName}"; use one of ${Object.keys(EXPORT_FORMATS).join(", ")}`);
  const mirrors = readSpecFile(specFile);
  let result;
  try {
    result = format.run(mirrors, {
      defaultEndpointDisabled: p.values["default-endpoint-disabled"] === true,
      ...(typeof p.values["cert-dir"] === "string" ? { certDir: p.values["cert-dir"] } : {}),
    });
  } catch (e) {
    if (e instanceof RegistryMirrorsError) throw fromRegistryError(e, specFile);
    throw e;
  }
  if (typeof p.values.out === "string") {
    const document = join(p.values.out, EXPORT_FILE[formatName]);
    mkdirSync(p.values.out, { recursive: true });
    writeFileSync(document, result.text, { mode: 0o600 });
    writeUnder(p.values.out, result.files);
    io.out(`wrote ${document}${result.files.length > 0 ? ` and ${result.files.length} file(s) it refers to under ${p.values.out}` : ""}\n`);
    return 0;
  }
  io.out(result.text);
  for (const file of result.files) io.err(`note: ${file.path} (mode ${file.mode.toString(8)}) is not printed; pass --out <dir> to write it\n`);
  return 0;
}

function help(command: string, io: Io): number {
  io.out(HELP[command]);
  return 0;
}

async function suggest(args: string[], io: Io): Promise<number> {
  const p = parse(
    "suggest",
    args,
    { kubeconfig: { type: "string" }, context: { type: "string" }, spec: { type: "string" }, mirror: { type: "string" } },
    0,
  );
  if (!p) return help("suggest", io);
  if (typeof p.values.kubeconfig !== "string") throw new UsageError("suggest: --kubeconfig <file> is required");
  const mirrors = typeof p.values.spec === "string" ? readSpecFile(p.values.spec) : [];
  let images;
  try {
    images = await listPodImages({ kubeconfig: p.values.kubeconfig, ...(typeof p.values.context === "string" ? { context: p.values.context } : {}) });
  } catch (e) {
    if (e instanceof RegistryMirrorsError) throw fromRegistryError(e, p.values.kubeconfig);
    throw new InputError([{ file: p.values.kubeconfig, path: "cluster", message: (e as Error).message }]);
  }
  const found = suggestMirrors(images, mirrors, typeof p.values.mirror === "string" ? { mirrorBase: p.values.mirror } : {});
  for (const r of found.registries) {
    io.err(
      `${r.registry}: ${r.containers} container(s) in ${r.pods} pod(s), ${r.images.length} image(s); ${r.coveredBy ? `mirrored (${r.coveredBy})` : "NOT mirrored"}\n`,
    );
  }
  for (const u of found.unparsable) io.err(`note: ${u.where}: ${JSON.stringify(u.image)} is no image reference; skipped\n`);
  io.out(toYaml({ mirrors: found.proposed }));
  return 0;
}

async function rollout(args: string[], io: Io): Promise<number> {
  if (args[0] === "--help" || args[0] === "-h") return help("rollout", io);
  if (args.length !== 1 || !["wait", "remove", "read", "forget"].includes(args[0]))
    throw new UsageError("rollout: give wait, remove, read or forget");
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  try {
    io.out(`${await runRollout(args[0], Buffer.concat(chunks).toString("utf8"))}\n`);
    return 0;
  } catch (e) {
    io.err(`${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

const COMMANDS: Readonly<Record<string, (args: string[], io: Io) => number | Promise<number>>> = {
  validate,
  render,
  diff,
  import: importCommand,
  export: exportCommand,
  suggest,
  rollout,
};

/**
 * Runs the CLI.
 *
 * @param argv - The arguments after the program name.
 * @param io - Where output and errors go.
 * @returns The exit code: 0 done, 1 problems with the input, 2 wrong usage (a promise of it for `suggest`, which asks
 *   the cluster).
 */
export function main(
  argv: string[],
  io: Io = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) },
): number | Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    io[command === undefined ? "err" : "out"](HELP.main);
    return command === undefined ? 2 : 0;
  }
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  try {
    if (!run) throw new UsageError(`unknown command "${command}"; use validate, render, diff, import, export, suggest or rollout`);
    const code = run(rest, io);
    return typeof code === "number" ? code : code.catch((e: unknown) => failed(e, command, run, io));
  } catch (e) {
    return failed(e, command, run, io);
  }
}

/** The exit code and message of an error a command threw. */
function failed(e: unknown, command: string, run: unknown, io: Io): number {
  if (e instanceof UsageError) {
    io.err(`error: ${e.message}\nRun "registry-mirrors ${run !== undefined ? `${command} ` : ""}--help" for usage.\n`);
    return 2;
  }
  if (e instanceof InputError) {
    for (const p of e.problems) io.err(`error: ${p.file && p.file !== p.path ? `${p.file}: ` : ""}${p.path}: ${p.message}\n`);
    return 1;
  }
  throw e;
}

if (require.main === module) void Promise.resolve(main(process.argv.slice(2))).then((code) => (process.exitCode = code));
