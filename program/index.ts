/**
 * The ready-made, config-driven registry-mirrors program (the root Pulumi.yaml runs it): mirrors and nodes come
 * from structured stack configuration, so mirrors can be configured without writing code.
 *
 *   pulumi config set --path 'mirrors[0].upstream' docker.io
 *   pulumi config set --path 'mirrors[0].endpoints[0].url' https://harbor.example.com/v2/dockerhub
 *   pulumi config set --path 'mirrors[0].endpoints[0].auth.username' 'robot$puller'
 *   pulumi config set --secret --path 'mirrors[0].endpoints[0].auth.password' "$TOKEN"
 *   pulumi config set --path 'nodes[0].name' worker-1
 *   pulumi config set --path 'nodes[0].host' 10.0.1.11
 *   pulumi config set --path 'nodes[0].privateKeyPath' ~/.ssh/id_ed25519
 *   pulumi config set --path 'nodes[0].hostKey' "$(cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub)"
 *
 * See program/README.md for every key.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import {
  RegistryMirrors,
  RegistryMirrorsArgumentsError,
  RegistryMirrorsError,
  validateMirrors,
  type Mirror,
  type MirrorArgs,
  type MirrorNodeArgs,
  type RegistryMirrorsArgs,
} from "../src";

const config = new pulumi.Config("registry-mirrors");

/** One node as written in `registry-mirrors:nodes`. */
interface NodeConfig {
  name: string;
  host: string;
  port?: number;
  user?: string;
  /** A private key file on the machine running `pulumi` (`~` allowed; relative to the project directory). */
  privateKeyPath?: string;
  /** The private key itself; set it with `pulumi config set --secret --path 'nodes[N].privateKey'`. */
  privateKey?: string;
  /** The node's SSH host key, `ssh-ed25519 AAAA…` (authorized_keys format). Required unless insecureIgnoreHostKey. */
  hostKey?: string;
  /** Connect without checking the host key (warned on every run). */
  insecureIgnoreHostKey?: boolean;
  runtime?: MirrorNodeArgs["runtime"];
  sudo?: boolean;
  paths?: MirrorNodeArgs["paths"];
  legacy?: MirrorNodeArgs["legacy"];
  probe?: MirrorNodeArgs["probe"];
  verify?: MirrorNodeArgs["verify"];
  dialErrorLimit?: number;
  perDialTimeout?: number;
}

/**
 * What is wrong with the stack configuration, one `registry-mirrors:<key>: <message>` line each. Everything the
 * component checks (node names, runtimes, host keys, paths, verify, rollout, …) is left to it, so a mistake gets the
 * component's message; this program checks only what the component never sees (key files, its own keys).
 */
const problems: string[] = [];

/** The config key of a field the component names: its paths are this config's, but a node's connection fields sit on the node here. */
function configKey(path: string): string {
  return `registry-mirrors:${path.replace(/^(nodes\[\d+\])\.connection\./, "$1.")}`;
}

/** The error for a configuration with problems; RunError: printed without a stack trace. */
function configurationError(lines: string[]): pulumi.RunError {
  return new pulumi.RunError(`registry-mirrors: the stack configuration has ${lines.length} problem(s):\n  ${lines.join("\n  ")}`);
}

const mirrorsConfig = config.requireObject<Mirror[]>("mirrors");
const nodesConfig = config.requireObject<NodeConfig[]>("nodes");
if (!Array.isArray(mirrorsConfig)) problems.push("registry-mirrors:mirrors: must be a list of mirrors");
if (!Array.isArray(nodesConfig) || nodesConfig.length === 0) problems.push("registry-mirrors:nodes: must be a non-empty list of nodes");
// The config is plain data: validate it here, so a mistake is one clear message before any resource exists.
try {
  if (Array.isArray(mirrorsConfig)) validateMirrors(mirrorsConfig);
} catch (e) {
  if (!(e instanceof RegistryMirrorsError)) throw e;
  problems.push(...e.problems.map((p) => `${configKey(p.path)}: ${p.message}`));
}

/**
 * Credentials are made secret field by field, whatever the config says: the password of `--secret --path`
 * config arrives here decrypted (requireObject), and a plain-text one must not reach the state either. Every
 * other field stays plain, so `pulumi preview --diff` stays readable (the component keeps secret files on stdin).
 */
function mirrorArgs(m: Mirror): MirrorArgs {
  return {
    ...m,
    endpoints: (m.endpoints ?? []).map((e) => ({
      ...e,
      ...(e.auth ? { auth: { username: e.auth.username, password: pulumi.secret(e.auth.password) } } : {}),
      ...(e.clientKey !== undefined ? { clientKey: pulumi.secret(e.clientKey) } : {}),
      ...(e.headers ? { headers: Object.fromEntries(Object.entries(e.headers).map(([k, v]) => [k, pulumi.secret(v)])) } : {}),
    })),
  };
}

/** A default key for every node without its own: `pulumi config set --secret registry-mirrors:privateKey < key`. */
const defaultKey = config.getSecret("privateKey");
const defaultKeyPath = config.get("privateKeyPath");

function readKey(file: string, where: string): string | undefined {
  const p = path.resolve(file.replace(/^~(?=\/|$)/, os.homedir()));
  try {
    return fs.readFileSync(p, "utf8");
  } catch (e) {
    problems.push(`${where}: cannot read ${p}: ${(e as Error).message}`);
    return undefined;
  }
}

function nodeArgs(n: NodeConfig, i: number): MirrorNodeArgs | undefined {
  const where = `registry-mirrors:nodes[${i}]`;
  if (!n || typeof n !== "object") {
    problems.push(`${where}: must be an object { name, host, … }`);
    return undefined;
  }
  // The component checks the name (and every other node field) itself; it takes the host as it comes.
  if (typeof n.host !== "string" || n.host === "") problems.push(`${where}.host: is required: the node's DNS name or IP address`);
  let privateKey: pulumi.Input<string> | undefined;
  if (n.privateKey !== undefined) privateKey = pulumi.secret(n.privateKey);
  else if (n.privateKeyPath !== undefined) privateKey = readKey(n.privateKeyPath, `${where}.privateKeyPath`);
  else if (defaultKey !== undefined) privateKey = defaultKey;
  else if (defaultKeyPath !== undefined) privateKey = readKey(defaultKeyPath, "registry-mirrors:privateKeyPath");
  return {
    name: n.name,
    connection: {
      host: n.host,
      ...(n.port !== undefined ? { port: Number(n.port) } : {}),
      ...(n.user !== undefined ? { user: n.user } : {}),
      ...(privateKey !== undefined ? { privateKey: pulumi.secret(privateKey) } : {}),
      ...(n.hostKey !== undefined ? { hostKey: n.hostKey } : {}),
      ...(n.dialErrorLimit !== undefined ? { dialErrorLimit: Number(n.dialErrorLimit) } : {}),
      ...(n.perDialTimeout !== undefined ? { perDialTimeout: Number(n.perDialTimeout) } : {}),
    },
    ...(n.runtime !== undefined ? { runtime: n.runtime } : {}),
    ...(n.sudo !== undefined ? { sudo: n.sudo } : {}),
    ...(n.paths !== undefined ? { paths: n.paths } : {}),
    ...(n.legacy !== undefined ? { legacy: n.legacy } : {}),
    ...(n.probe !== undefined ? { probe: n.probe } : {}),
    ...(n.verify !== undefined ? { verify: n.verify } : {}),
    ...(n.insecureIgnoreHostKey !== undefined ? { insecureIgnoreHostKey: n.insecureIgnoreHostKey } : {}),
  };
}

const nodes = (Array.isArray(nodesConfig) ? nodesConfig : []).map(nodeArgs);

/** `registry-mirrors:verify`: a mode (`always`), or an object set with --path (`verify.pull`, `verify.when`…). */
function verifyConfig(): RegistryMirrorsArgs["verify"] {
  const raw = config.get("verify");
  return raw?.trimStart().startsWith("{") ? (JSON.parse(raw) as RegistryMirrorsArgs["verify"]) : (raw as RegistryMirrorsArgs["verify"]);
}
// Names the component had before: with them a rename is an update in place (Pulumi aliases), not a replace.
const formerNames = config.getObject<unknown>("formerNames");
if (formerNames !== undefined && !(Array.isArray(formerNames) && formerNames.every((n) => typeof n === "string" && n !== ""))) {
  problems.push(
    `registry-mirrors:formerNames: must be a list of the names the component had before, e.g. ["mirrors"], not ${JSON.stringify(formerNames)}`,
  );
}
if (problems.length > 0) throw configurationError(problems);

const args: RegistryMirrorsArgs = {
  mirrors: mirrorsConfig.map(mirrorArgs),
  nodes: nodes as MirrorNodeArgs[],
  rollout: config.getObject<RegistryMirrorsArgs["rollout"]>("rollout"),
  verify: verifyConfig(),
  probe: config.get("probe") as RegistryMirrorsArgs["probe"],
  legacy: config.get("legacy") as RegistryMirrorsArgs["legacy"],
  healthTimeoutSeconds: config.getNumber("healthTimeoutSeconds"),
  takeOver: config.getObject<string[]>("takeOver"),
};
let mirrors: RegistryMirrors;
try {
  mirrors = new RegistryMirrors(config.get("name") ?? "mirrors", args, { aliases: ((formerNames ?? []) as string[]).map((name) => ({ name })) });
} catch (e) {
  // Its argument errors name fields like nodes[0].connection.hostKey, which are this config's keys (configKey).
  if (e instanceof RegistryMirrorsArgumentsError) throw configurationError(e.problems.map((p) => `${configKey(p.path)}: ${p.message}`));
  throw e;
}

/** Per node: runtime and version seen, files written, restart/reload, verification. */
export const reports = mirrors.reports;
