/**
 * Registry mirrors on existing machines reached over SSH (see README.md):
 * - Docker Hub through a pull-through cache (e.g. a Harbor proxy project), falling back to Docker Hub;
 * - optionally gcr.io through an air-gapped mirror that never contacts gcr.io;
 * - one SSH key from secret config for every machine, every machine's host key pinned, an optional bastion.
 */
import * as pulumi from "@pulumi/pulumi";
import { RegistryMirrors, type MirrorArgs, type MirrorNodeArgs, type NodeRuntime } from "registry-mirrors";

const cfg = new pulumi.Config();

/** One machine of `config.machines`. */
interface Machine {
  name: string;
  host: string;
  port?: number;
  /** The machine's SSH host key, `ssh-ed25519 AAAA…` — required: an unpinned host key is not checked at all. */
  hostKey: string;
  /** `containerd`, `cri-o`, `docker`, or `auto` (default: read from the machine; giving it makes previews show every file). */
  runtime?: NodeRuntime;
}

/** The jump host of `config.bastion`, if the machines are only reachable through one. */
interface Bastion {
  host: string;
  port?: number;
  user?: string;
  hostKey: string;
}

const machines = cfg.requireObject<Machine[]>("machines");
const missingHostKeys = machines.filter((m) => !m.hostKey).map((m) => m.name ?? m.host);
if (missingHostKeys.length > 0) {
  throw new Error(
    `machines without a pinned hostKey: ${missingHostKeys.join(", ")}. Read it on the machine (cat /etc/ssh/ssh_host_ed25519_key.pub) ` +
      `or with ssh-keyscan and compare its fingerprint out of band, then: pulumi config set --path 'machines[N].hostKey' "ssh-ed25519 AAAA…"`,
  );
}

const user = cfg.get("sshUser") ?? "root";
const privateKey = cfg.requireSecret("sshPrivateKey");
const bastion = cfg.getObject<Bastion>("bastion");

// Docker Hub through the pull-through cache; credentials only if a robot account is configured.
const dockerHub: MirrorArgs = {
  upstream: "docker.io",
  endpoints: [
    {
      url: cfg.require("dockerHubMirror"),
      ...(cfg.get("mirrorCa") ? { caCert: cfg.require("mirrorCa") } : {}),
      ...(cfg.get("mirrorUser") ? { auth: { username: cfg.require("mirrorUser"), password: cfg.requireSecret("mirrorPassword") } } : {}),
    },
  ],
};
// gcr.io only through the internal mirror: with fallback false, nodes never contact gcr.io itself.
const gcr: MirrorArgs[] = cfg.get("gcrMirror") ? [{ upstream: "gcr.io", endpoints: [{ url: cfg.require("gcrMirror") }], fallback: false }] : [];

const nodes: MirrorNodeArgs[] = machines.map((m) => ({
  name: m.name,
  runtime: m.runtime ?? "auto",
  connection: {
    host: m.host,
    port: m.port ?? 22,
    user,
    privateKey,
    hostKey: m.hostKey,
    ...(bastion ? { proxy: { host: bastion.host, port: bastion.port ?? 22, user: bastion.user ?? user, privateKey, hostKey: bastion.hostKey } } : {}),
  },
}));

const mirrors = new RegistryMirrors("mirrors", {
  mirrors: [dockerHub, ...gcr],
  nodes,
  // Restart one machine's runtime at a time (only a config.toml change restarts containerd, normally once).
  rollout: { maxParallelRestarts: cfg.getNumber("maxParallelRestarts") ?? 1 },
});

/** Per machine: runtime and version seen, files written, whether the runtime was restarted or reloaded, verification. */
export const reports = mirrors.reports;
