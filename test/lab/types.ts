/**
 * Public types of the real-node test lab. Everything in {@link LabDescription} is plain JSON so a lab started by
 * the CLI (`test/lab/cli.ts start`) can be described to, and re-attached from, another process.
 */

/** Container runtime of a lab node. */
export type NodeRuntime =
  /** containerd 1.6 from Debian (`/usr/bin/containerd`), config `version = 2`. */
  | "containerd"
  /** containerd 2.x built from its Go module (`.tools/bin/containerd2`), config `version = 3`. */
  | "containerd2"
  /**
   * CRI-O node: real CRI-O 1.36.3 (`.tools/bin/crio`) on `/run/crio/crio.sock`, no containerd at all; its
   * `/etc/containers/registries.conf(.d)` is read by CRI-O and by skopeo/podman (the same library).
   */
  | "crio"
  /**
   * Docker node: Debian's dockerd 20.10 (with the containerd it manages) on `/run/docker.sock`, vfs storage in the
   * node's `/var/lib/docker`, no iptables, no bridge; `/etc/docker/daemon.json` as Debian ships it (absent).
   */
  | "docker"
  /**
   * k3s-layout node: `/usr/local/bin/k3s` is a stand-in (test/lab/k3s-stand-in.js) that does what a k3s agent does
   * with `/etc/rancher/k3s/registries.yaml` at each start (hosts.toml files under
   * `/var/lib/rancher/k3s/agent/etc/containerd/certs.d`, config.toml beside them), then runs Debian's containerd
   * on k3s's socket `/run/k3s/containerd/containerd.sock`; unit `k3s`.
   */
  | "k3s"
  /**
   * RKE2-layout node: the same stand-in as `/usr/local/bin/rke2` with RKE2's paths (`/etc/rancher/rke2`,
   * `/var/lib/rancher/rke2`, ctr and crictl in `/var/lib/rancher/rke2/bin`), unit `rke2-server`.
   */
  | "rke2";

/**
 * Which `config.toml` a containerd node starts with.
 * - `default`: realistic default with the registry table and `config_path = ""` (plus empty `auths/configs/headers/mirrors`
 *   tables on 1.6, as `containerd config default` writes them).
 * - `no-config-path`: the registry table exists but has no `config_path` line (containerd 1.6 only).
 * - `legacy-mirrors`: a deprecated `registry.mirrors."docker.io"` table and no `config_path` (containerd 1.6 only).
 * - `minimal`: a file with only `version = N` and a comment (no plugins table at all).
 */
export type ContainerdConfigVariant = "default" | "no-config-path" | "legacy-mirrors" | "minimal";

/** Login user of a node: `root`, or the unprivileged `lab` user (needs `sudo`). */
export type NodeUser = "root" | "lab";

/** sudo set-up for the `lab` user: `nopasswd` (`NOPASSWD: ALL`) or `password` (sudo asks for a password). */
export type SudoMode = "nopasswd" | "password";

/** What to build for one node; every field is optional. */
export interface NodeSpec {
  /** Node name (`[a-z0-9-]+`); default `node<N>` (1-based). */
  name?: string;
  /** Default `containerd`. */
  runtime?: NodeRuntime;
  /** Default `root`. */
  user?: NodeUser;
  /** Only for `user: "lab"`; default `nopasswd`. */
  sudo?: SudoMode;
  /** Only for containerd runtimes; default `default`. `no-config-path` and `legacy-mirrors` are 1.6 only. */
  config?: ContainerdConfigVariant;
}

/** Options of {@link startLab}. */
export interface LabOptions {
  /** A node count (the default mix, see README) or explicit specs. Default 3. */
  nodes?: NodeSpec[] | number;
  /** Lab directory; created if missing (must be empty). Default: a fresh `mkdtemp` in `os.tmpdir()`. */
  dir?: string;
  /** Progress lines (start-up steps with timings). Default: none. */
  log?: (s: string) => void;
  /**
   * Stop the lab when this process exits or gets SIGINT/SIGTERM/SIGHUP (default true). The CLI's `start` sets it to
   * false so the lab outlives the CLI.
   */
  stopOnExit?: boolean;
  /**
   * Only one lab can run on a machine (the upstream front needs 127.0.0.1:443). If another lab (in os.tmpdir()) is
   * alive, wait at most this long for it to stop (default 300 s); a non-lab process on 443 fails at once.
   */
  waitForOtherLabMs?: number;
  /** Overall start-up time limit (default 120 s), not counting the wait for another lab. */
  timeoutMs?: number;
}

/** One node as the tests (and the component) see it. */
export interface NodeDescription {
  name: string;
  /** Always `127.0.0.1`. */
  host: string;
  /** sshd port. */
  port: number;
  /** Login user (`root` or `lab`). */
  user: NodeUser;
  /** Lab client private key (ed25519, no passphrase), same for every node. */
  privateKeyPath: string;
  /** Host public key in authorized_keys format, `ssh-ed25519 AAAA…` (what `@pulumi/command`'s `hostKey` wants). */
  hostKey: string;
  /** known_hosts line for this node: `[127.0.0.1]:PORT ssh-ed25519 AAAA…`. */
  knownHostsLine: string;
  runtime: NodeRuntime;
  /** First line of `containerd --version` / `crio --version` inside the node. */
  runtimeVersion: string;
  /** systemd unit name of the runtime: `containerd` or `crio`. */
  unit: string;
  /** containerd config variant (containerd nodes only). */
  config?: ContainerdConfigVariant;
  /** `none` for root nodes. */
  sudo: "none" | SudoMode;
  /** The `lab` user's password on `sudo: "password"` nodes (so a test can show that only a password would help). */
  sudoPassword?: string;
  /** containerd socket inside the node (`/run/containerd/containerd.sock`), containerd nodes only. */
  containerdSocket?: string;
  /** The CRI socket crictl talks to: containerd's, or CRI-O's (`/run/crio/crio.sock`); none on a Docker node. */
  criSocket?: string;
  /** The node's own directory in the lab dir (logs, pid files, overlay upper dirs). */
  dir: string;
  /** sshd log (`sshd -e` output, `LogLevel VERBOSE`). */
  sshdLog: string;
  /** The runtime's log (what the lab's `journalctl` prints). */
  runtimeLog: string;
  /** One line per `systemctl` call: `ISO-time<TAB>verb<TAB>unit<TAB>uid<TAB>exit-code`. */
  systemctlLog: string;
  /** pid of the node's sshd (the process holding the node's mount namespace). */
  sshdPid: number;
}

/** Names of the lab registries (keys of {@link LabDescription.registries} and of `lab.requests()`). */
export type RegistryName = "upstream" | "mirror" | "auth-mirror" | "ns-mirror";

/** One lab registry front (nginx) and what a client needs to use it. */
export interface RegistryDescription {
  name: RegistryName;
  /**
   * Base URL as a node uses it: `https://registry-1.docker.io` for the upstream (port 443, names from the node's
   * /etc/hosts), `http://127.0.0.1:PORT` for the plain mirror, `https://127.0.0.1:PORT` for the auth mirror,
   * `http://127.0.0.1:PORT/v2/test-namespace` for the namespaced mirror (use with `override_path = true`).
   */
  url: string;
  /** `host:port` of the front (`registry-1.docker.io` style names for the upstream). */
  host: string;
  /** Front port on 127.0.0.1. */
  port: number;
  /** Whether the front speaks TLS. */
  tls: boolean;
  /** CA certificate (PEM) that signed the front's certificate; for the upstream this CA is in every node's bundle. */
  caPem?: string;
  /** Same CA as a file in the lab dir. */
  caFile?: string;
  /** Basic-auth credentials (auth mirror only). */
  username?: string;
  password?: string;
  /** Path prefix that maps to the mirror's `/v2/` (namespaced mirror only): `/v2/test-namespace`. */
  pathPrefix?: string;
  /** Backend docker-registry URL (plain HTTP, on the machine; the upstream backend is what the mirrors proxy). */
  backendUrl: string;
  /** nginx access log (one JSON object per line), parsed by `lab.requests(name)`. */
  accessLog: string;
}

/** An image pushed to the upstream. */
export interface PushedImage {
  /** Repository path, e.g. `library/hello-3f2a`. */
  repo: string;
  tag: string;
  /** Registry name used in {@link ref} (default `docker.io`). */
  registry: string;
  /** `registry/repo:tag`, e.g. `docker.io/library/hello-3f2a:t1`. */
  ref: string;
  /** Manifest digest `sha256:…` (what a repo digest ends with). */
  digest: string;
  /** `registry/repo@digest`. */
  digestRef: string;
}

/** The whole lab as JSON (written to `DIR/lab.json` and printed by the CLI). */
export interface LabDescription {
  dir: string;
  /** ISO time the lab finished starting. */
  startedAt: string;
  /** Start-up time in milliseconds. */
  startupMs: number;
  /** Client private key for every node. */
  privateKeyPath: string;
  /** Client public key line. */
  publicKey: string;
  /** known_hosts file with every node's host key (use with `StrictHostKeyChecking=yes`). */
  knownHostsFile: string;
  nodes: NodeDescription[];
  registries: Record<RegistryName, RegistryDescription>;
  /** Names that resolve, inside every node, to the upstream front on 127.0.0.1:443. */
  upstreamNames: string[];
  /** Lab "public" CA (in the nodes' CA bundles only). */
  publicCaFile: string;
  /** Images pushed at start, in this order: `docker.io/library/hello:1.0`, `gcr.io/lab/hello:1.0`. */
  images: PushedImage[];
  /** Versions found at start. */
  versions: Record<string, string>;
}

/** Result of {@link Lab.exec} / {@link Lab.nsExec}. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  /** True when the command was killed at its time limit. */
  timedOut: boolean;
}

/** One parsed line of an nginx access log. */
export interface RegistryRequest {
  time: string;
  method: string;
  /** Path without the query string, e.g. `/v2/library/hello/manifests/1.0`. */
  path: string;
  /** Raw query string without `?` (`ns=docker.io`), empty if none. */
  query: string;
  /** Parsed query. */
  params: Record<string, string>;
  /** Host header as sent (`registry-1.docker.io`, `127.0.0.1:PORT`). */
  host: string;
  /** TLS SNI name, empty for plain HTTP. */
  sni: string;
  userAgent: string;
  status: number;
  /** Basic-auth user, empty if none. */
  remoteUser: string;
}

/** One `systemctl` call recorded by the lab's systemctl. */
export interface SystemctlCall {
  time: string;
  verb: string;
  unit: string;
  uid: number;
  exitCode: number;
}

/** Result of {@link Lab.criPull}. */
export interface CriPullResult {
  /** First repo digest, e.g. `docker.io/library/hello@sha256:…`. */
  repoDigest: string;
  repoDigests: string[];
  repoTags: string[];
  /** Image id (config digest). */
  id: string;
}
