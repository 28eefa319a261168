/**
 * A throw-away stack of the root program (Pulumi.yaml → program/) driven through the real `pulumi` CLI, fully
 * offline: the tools' PULUMI_HOME (whose plugin cache holds pulumi-resource-command, as on a user's machine), a
 * file backend and a passphrase in a temp dir. The project is a copy of the root
 * Pulumi.yaml whose `main` points at the repository's program/ by absolute path, so the stack's config file
 * (Pulumi.<stack>.yaml) lives in the temp dir and nothing is written into the repository.
 *
 * Used by test/e2e/engine.test.ts and demo/run.ts.
 */
import { execFile, execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { NodeDescription } from "../lab";
import { renderNodeConfig, type Mirror } from "../../src";

export const ROOT = path.resolve(__dirname, "../..");
export const BIN = path.join(ROOT, ".tools/bin");
export const PULUMI = path.join(BIN, "pulumi");
/** The Node.js language host, beside the CLI as in a release archive. */
export const LANGUAGE_HOST = path.join(BIN, "pulumi-language-nodejs");
/** PULUMI_HOME of the tests, the demo and the benchmark (scripts/tools.sh installs the plugin into its cache). */
export const PULUMI_HOME = path.join(ROOT, ".tools/pulumi-home");
export const COMMAND_VERSION = "1.2.1";
/** pulumi-resource-command in the plugin cache: where the engine finds it (never on PATH). */
export const COMMAND_PLUGIN = path.join(PULUMI_HOME, `plugins/resource-command-v${COMMAND_VERSION}/pulumi-resource-command`);

/** Everything the engine needs to run the root program here (missing → run scripts/tools.sh). */
export function missingTools(): string[] {
  return [PULUMI, LANGUAGE_HOST, COMMAND_PLUGIN].filter((f) => !fs.existsSync(f));
}

/** Fails with what to do when a tool is missing: a missing engine is a broken set-up, never a skipped test. */
export function requireTools(): void {
  const missing = missingTools();
  if (missing.length > 0) throw new Error(`missing ${missing.join(", ")}: run scripts/tools.sh (it builds and installs them)`);
}

/** The environment for the real CLI, offline: file backend, passphrase, the tools' PULUMI_HOME. */
export function pulumiEnv(backendDir: string, passphrase: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${BIN}:${process.env.PATH}`,
    PULUMI_BACKEND_URL: `file://${backendDir}`,
    PULUMI_CONFIG_PASSPHRASE: passphrase,
    PULUMI_HOME,
    PULUMI_SKIP_UPDATE_CHECK: "1",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
  };
  delete env.PULUMI_ACCESS_TOKEN;
  delete env.PULUMI_CONFIG;
  return env;
}

/** The versions of the CLI, the language host and the command provider that the engine runs here. */
export function toolVersions(): Record<string, string> {
  const run = (file: string, args: string[]) =>
    execFileSync(file, args, { env: { ...process.env, PULUMI_HOME, PULUMI_SKIP_UPDATE_CHECK: "1" }, encoding: "utf8" }).trim();
  const plugins = JSON.parse(run(PULUMI, ["plugin", "ls", "--json"])) as { name: string; kind: string; version: string }[];
  const command = plugins.find((p) => p.name === "command" && p.kind === "resource");
  return {
    pulumi: run(PULUMI, ["version"]),
    "pulumi-language-nodejs": run(LANGUAGE_HOST, ["--version"]),
    "pulumi-resource-command": command ? `${command.version} (plugin cache ${path.dirname(COMMAND_PLUGIN)})` : "NOT INSTALLED",
  };
}

export interface RunResult {
  code: number;
  /** stdout + stderr. */
  out: string;
  stdout: string;
  ms: number;
}

/** Stack config of the program, as plain JSON (keys without the `registry-mirrors:` prefix). */
export type ProgramConfig = Record<string, unknown>;

/** A lab node as a `registry-mirrors:nodes` entry (runtime given, so previews show every file). */
export function labNodeConfig(d: NodeDescription, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: d.name,
    host: d.host,
    port: d.port,
    user: d.user,
    privateKeyPath: d.privateKeyPath,
    hostKey: d.hostKey,
    // The lab's names of runtimes, as the component names them.
    runtime: d.runtime === "crio" ? "cri-o" : d.runtime === "containerd2" ? "containerd" : d.runtime,
    dialErrorLimit: 1,
    perDialTimeout: 5,
    ...extra,
  };
}

export class ProgramStack {
  readonly dir: string;
  readonly project: string;
  readonly env: NodeJS.ProcessEnv;
  /** Every CLI output so far (for "the secret never appears in any output" checks). */
  readonly outputs: string[] = [];
  private salt = "";

  /** The project name: the namespace of its config keys. */
  readonly name: string;

  /** `projectDir`: the directory of the Pulumi.yaml to run (default: the repository root, i.e. program/). */
  constructor(
    readonly stack: string,
    opts: { dir?: string; projectDir?: string } = {},
  ) {
    this.dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "regmirror-stack-"));
    this.project = path.join(this.dir, "project");
    fs.mkdirSync(this.project, { recursive: true });
    fs.mkdirSync(path.join(this.dir, "state"), { recursive: true });
    const projectDir = opts.projectDir ?? ROOT;
    const yaml = fs.readFileSync(path.join(projectDir, "Pulumi.yaml"), "utf8");
    this.name = yaml.match(/^name:\s*(\S+)\s*$/m)?.[1] ?? "registry-mirrors";
    const main = path.join(projectDir, yaml.match(/^main:\s*(\S+)\s*$/m)?.[1] ?? ".") + "/";
    fs.writeFileSync(
      path.join(this.project, "Pulumi.yaml"),
      /^main:/m.test(yaml) ? yaml.replace(/^main:.*$/m, `main: ${main}`) : `${yaml.trimEnd()}\nmain: ${main}\n`,
    );
    this.env = pulumiEnv(path.join(this.dir, "state"), "e2e-passphrase");
  }

  get configFile(): string {
    return path.join(this.project, `Pulumi.${this.stack}.yaml`);
  }

  /** Runs `pulumi ARGS`; rejects unless it exits 0 (or, with `expectFailure`, unless it fails). */
  run(args: string[], opts: { expectFailure?: boolean; timeoutMs?: number } = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const t0 = Date.now();
      execFile(
        PULUMI,
        // The common flags go before a `--` (after it they would be positional arguments).
        args.includes("--")
          ? [...args.slice(0, args.indexOf("--")), "--non-interactive", "--color=never", ...args.slice(args.indexOf("--"))]
          : [...args, "--non-interactive", "--color=never"],
        { cwd: this.project, env: this.env, maxBuffer: 256 << 20, timeout: opts.timeoutMs ?? 600_000, killSignal: "SIGINT" },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
          const r = { code, out: stdout + stderr, stdout, ms: Date.now() - t0 };
          // The command line of `config set --secret` holds the secret: never recorded or printed.
          const shown = args.includes("--secret") ? [...args.slice(0, -1), "[secret]"] : args;
          this.outputs.push(`$ pulumi ${shown.join(" ")}\n${r.out}`);
          if ((code !== 0) !== (opts.expectFailure ?? false)) {
            reject(new Error(`pulumi ${shown.join(" ")} exited ${code} after ${r.ms} ms:\n${r.out}`));
          } else resolve(r);
        },
      );
    });
  }

  /** `pulumi stack init`; remembers the passphrase salt so the config file can be rewritten as a whole. */
  async init(): Promise<void> {
    await this.run(["stack", "init", this.stack]);
    this.salt = fs.readFileSync(this.configFile, "utf8").match(/^encryptionsalt:\s*(\S+)\s*$/m)?.[1] ?? "";
  }

  /**
   * Replaces the stack's whole configuration: `plain` is written as JSON (valid YAML) under `<project name>:`,
   * then every entry of `secrets` (config path → value) is set with `pulumi config set --secret --path`, exactly
   * as a user would.
   */
  async configure(plain: ProgramConfig, secrets: Record<string, string> = {}): Promise<void> {
    const config = Object.fromEntries(
      Object.entries(plain)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [`${this.name}:${k}`, v]),
    );
    fs.writeFileSync(this.configFile, JSON.stringify({ ...(this.salt ? { encryptionsalt: this.salt } : {}), config }, null, 2) + "\n");
    for (const [key, value] of Object.entries(secrets)) {
      await this.run(["config", "set", "--secret", "--path", `${this.name}:${key}`, "--", value]);
    }
  }

  /** `pulumi stack output reports` as JSON. */
  async reports<T = Record<string, unknown>>(): Promise<T> {
    const r = await this.run(["stack", "output", "reports", "--json"]);
    return JSON.parse(r.stdout) as T;
  }

  /** `pulumi stack export` text. */
  async exportState(): Promise<string> {
    return (await this.run(["stack", "export"])).stdout;
  }

  /** Destroys what is left (best effort), removes the stack and the temp dir. */
  async dispose(opts: { keepDir?: boolean } = {}): Promise<void> {
    await this.run(["destroy", "--yes", "--skip-preview"]).catch(() => undefined);
    await this.run(["stack", "rm", "--yes", "--force"]).catch(() => undefined);
    if (!opts.keepDir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Makes `stack` run an example of another language whose Pulumi.yaml names the package as `../../pulumi-package`:
 * the stack's copy of `yaml` gets that path absolute (the copy lives elsewhere).
 */
export function usePackageProject(stack: ProgramStack, yaml: string): void {
  if (!yaml.includes("registry-mirrors: ../../pulumi-package"))
    throw new Error("the example's Pulumi.yaml must name the package as ../../pulumi-package");
  fs.writeFileSync(path.join(stack.project, "Pulumi.yaml"), yaml.replace("../../pulumi-package", path.join(ROOT, "pulumi-package")));
}

/**
 * The lines of every file the TypeScript component writes for `mirrors` on a containerd node that the command shows
 * (all but secret files, which travel on stdin), missing from `out` (a `pulumi preview --diff --show-full-output` of
 * a program in another language): empty when that preview shows the same content. `hostsDir`: the nodes' hosts
 * directory (containerd's default unless the program sets another).
 */
export function linesMissingFromPreview(out: string, mirrors: Mirror[], hostsDir = "/etc/containerd/certs.d"): string[] {
  const plan = renderNodeConfig({ mirrors, runtime: { kind: "containerd" }, paths: { hostsDir }, hostsDir: "fixed" });
  // A long string may be shown as one quoted value (`\n` and `\"` escaped) rather than as a block of lines.
  const shown = `${out}\n${out.replace(/\\n/g, "\n").replace(/\\"/g, '"')}`;
  return plan.files
    .filter((f) => !f.secret)
    .flatMap((f) => [f.path, ...f.content.split("\n")].map((line) => line.trim()).filter((line) => line !== "" && !shown.includes(line)));
}
