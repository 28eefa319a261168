/**
 * A real one-node Kubernetes cluster on 127.0.0.1 for the lab: Debian's etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler and a kubelet v1.37 (built by `scripts/tools.sh kubernetes`) against its own containerd 1.6 (Debian's)
 * with runc and the loopback CNI only (hostNetwork pods; no pod network, no kube-proxy).
 *
 * Everything lives in one temporary directory (certificates, kubeconfigs, etcd data, containerd root and state, the
 * kubelet's root dir and pod logs) and listens on 127.0.0.1 only, on fixed ports below 32768 (never 443 or 22xx, so it
 * never meets the SSH lab, which picks free ports from 20000 up; {@link CLUSTER_PORTS}). The node is named
 * `127.0.0.1`: the kubelet refuses a loopback `--node-ip`, but takes an IP-shaped `--hostname-override` as the Node's
 * InternalIP (see /work/shared/facts/kubernetes-lab.md for the settings this VM needs and why).
 *
 * What escapes the directory, and is removed by {@link Cluster.stop}: containerd 1.6 puts shim sockets in the fixed
 * `/run/containerd/s`, the kubelet makes the `kubepods` cgroups in every cgroup v1 hierarchy and container log symlinks
 * in `/var/log/containers`. One cluster per machine (the ports are fixed).
 *
 * Images are built offline: `registry-mirrors.lab/pause:1` holds one static Go binary (`test/lab/pause`) as `/pause`;
 * it is the sandbox image and serves as a container image too (`imagePullPolicy: Never`).
 */
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import * as os from "os";
import * as path from "path";
import { stringify as toYaml } from "yaml";
import { toolsBin } from "./lab";
import { writeImageLayout } from "./oci";
import { makeCa, CertFiles } from "./pki";
import {
  FatalWaitError,
  isAlive,
  labEnv,
  labProcesses,
  mountsUnder,
  portBindable,
  readPid,
  run,
  runOk,
  sleepSync,
  spawnRecorded,
  waitFor,
} from "./proc";
import type { ExecResult } from "./types";

/** The fixed 127.0.0.1 ports of the lab cluster (all below the ephemeral range 32768+, none 443 or 22xx). */
export const CLUSTER_PORTS = {
  etcdClient: 12379,
  etcdPeer: 12380,
  apiserver: 16443,
  kubelet: 20250,
  kubeletHealthz: 20248,
  controllerManager: 20257,
  scheduler: 20259,
  containerdStream: 20010,
} as const;

/** The Node's name and InternalIP. */
export const CLUSTER_NODE_NAME = "127.0.0.1";
/** The offline-built image used as the sandbox image and for test pods. */
export const PAUSE_IMAGE = "registry-mirrors.lab/pause:1";
/** The in-cluster node agent's image (src/in-cluster/pod), built offline and imported like the pause image. */
export const NODE_AGENT_IMAGE = "registry-mirrors.lab/node-agent:dev";
/** The containerd namespace of the CRI plugin. */
const CRI_NAMESPACE = "k8s.io";
const SHIM_SOCKET_DIR = "/run/containerd/s";
const CONTAINER_LOG_LINKS = "/var/log/containers";
const REPO_ROOT = path.resolve(__dirname, "..", "..");

export interface ClusterOptions {
  /** The cluster's directory (created; must not exist or be empty). Default: a new `/tmp/regmirror-cluster-*`. */
  dir?: string;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Bound for the whole start (default 90 s); each step has its own smaller bound within it. */
  timeoutMs?: number;
  /** Stop the cluster when this process exits (default true). */
  stopOnExit?: boolean;
  /**
   * Whether the node's config.toml sets `config_path` to {@link ClusterDescription.hostsDir} (default true). With
   * false it sets none: a node the in-cluster mode must edit (`allowConfigEdits`) before containerd reads the files.
   */
  containerdReadsHostsDir?: boolean;
}

/** What {@link Cluster.stop} did and what is left (all empty / true when the clean-up is complete). */
export interface ClusterStopReport {
  /** Processes that got a signal. */
  signalled: number;
  /** Processes of the cluster still alive (should be empty). */
  survivors: number[];
  /** Mounts left under the directory (should be empty). */
  mounts: string[];
  /** Shim sockets of this cluster's containerd removed from /run/containerd/s. */
  shimSocketsRemoved: number;
  /** kubepods cgroup directories left (should be empty). */
  cgroupsLeft: string[];
  /** Whether the directory was removed. */
  removed: boolean;
}

export interface ClusterDescription {
  dir: string;
  /** Admin kubeconfig (client certificate of group system:masters; CA and key embedded). */
  kubeconfig: string;
  server: string;
  nodeName: string;
  caPem: string;
  ports: typeof CLUSTER_PORTS;
  containerdSocket: string;
  /** The directory the kubelet node's containerd reads hosts.toml files from (config_path, unless the option says not). */
  hostsDir: string;
  /** The kubelet node's containerd config.toml. */
  containerdConfig: string;
  /**
   * The node's `systemctl` for the agent (`systemctl` of the in-cluster mode): knows containerd.service; `restart`
   * stops containerd and the node's service loop starts it again with its config.toml, as systemd would.
   */
  systemctl: string;
  pauseImage: string;
  /** The in-cluster node agent's image, imported into the node's containerd. */
  nodeAgentImage: string;
  versions: { kubernetes: string; etcd: string; containerd: string };
  startupMs: number;
}

/** A running cluster: see {@link startCluster}. */
export interface Cluster extends ClusterDescription {
  describe(): ClusterDescription;
  /** `kubectl --kubeconfig <admin> ARGS` (bounded, never throws; default 60 s). */
  kubectl(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<ExecResult>;
  /** Like {@link Cluster.kubectl}, but throws with kubectl's message on a non-zero exit; returns stdout. */
  kubectlOk(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<string>;
  /** GET a path of the API server as the admin; the parsed JSON body (throws on a status other than 2xx). */
  get<T = unknown>(apiPath: string): Promise<T>;
  /** Kill everything, clean up outside the directory, remove the directory. Idempotent. */
  stop(): Promise<ClusterStopReport>;
}

// -----------------------------------------------------------------------------------------------------------------

interface Paths {
  dir: string;
  pki: string;
  logs: string;
  etcdData: string;
  containerdRoot: string;
  containerdState: string;
  containerdSock: string;
  runcRoot: string;
  cniConf: string;
  kubeletRoot: string;
  podLogs: string;
  admin: string;
  /** The kubelet node's containerd reads hosts.toml files here (config_path). */
  hostsDir: string;
}

function pathsOf(dir: string): Paths {
  return {
    dir,
    pki: path.join(dir, "pki"),
    logs: path.join(dir, "logs"),
    etcdData: path.join(dir, "etcd"),
    containerdRoot: path.join(dir, "containerd", "root"),
    containerdState: path.join(dir, "run", "containerd", "state"),
    containerdSock: path.join(dir, "run", "containerd", "containerd.sock"),
    runcRoot: path.join(dir, "run", "containerd", "runc"),
    cniConf: path.join(dir, "cni", "net.d"),
    kubeletRoot: path.join(dir, "kubelet"),
    podLogs: path.join(dir, "kubelet", "pod-logs"),
    admin: path.join(dir, "admin.kubeconfig"),
    hostsDir: path.join(dir, "containerd", "certs.d"),
  };
}

/** The binaries, each checked to exist before anything starts (the message says how to get it). */
function binaries(): Record<string, string> {
  const bin = toolsBin();
  const b = {
    etcd: "/usr/bin/etcd",
    containerd: "/usr/bin/containerd",
    ctr: "/usr/bin/ctr",
    runc: "/usr/sbin/runc",
    loopback: "/usr/lib/cni/loopback",
    crictl: path.join(bin, "crictl"),
    kubeApiserver: path.join(bin, "kube-apiserver"),
    kubeControllerManager: path.join(bin, "kube-controller-manager"),
    kubeScheduler: path.join(bin, "kube-scheduler"),
    kubelet: path.join(bin, "kubelet"),
    kubectl: path.join(bin, "kubectl"),
  };
  const missing = Object.values(b).filter((p) => !fs.existsSync(p));
  if (missing.length > 0) {
    throw new Error(
      `the lab cluster needs ${missing.join(", ")}: run scripts/setup.sh ` +
        `(Debian packages etcd-server containerd runc containernetworking-plugins; scripts/tools.sh kubernetes crictl)`,
    );
  }
  return b;
}

// --- certificates (openssl) -----------------------------------------------------------------------------------------

interface CertSpec {
  name: string;
  cn: string;
  org?: string;
  server?: { dns: string[]; ips: string[] };
  client?: boolean;
}

/** A certificate signed by `ca` (EC P-256, 30 days) for a client, a server or both. */
async function issue(dir: string, ca: CertFiles, spec: CertSpec): Promise<CertFiles> {
  const key = path.join(dir, `${spec.name}.key`);
  const csr = path.join(dir, `${spec.name}.csr`);
  const cert = path.join(dir, `${spec.name}.crt`);
  const ext = path.join(dir, `${spec.name}.ext`);
  const eku = [spec.server ? "serverAuth" : "", spec.client ? "clientAuth" : ""].filter(Boolean).join(",");
  const lines = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment", `extendedKeyUsage=${eku}`];
  if (spec.server) {
    lines.push(`subjectAltName=${[...spec.server.dns.map((d) => `DNS:${d}`), ...spec.server.ips.map((i) => `IP:${i}`)].join(",")}`);
  }
  fs.writeFileSync(ext, lines.join("\n") + "\n");
  const subj = `${spec.org ? `/O=${spec.org}` : ""}/CN=${spec.cn}`;
  const t = { timeoutMs: 20_000 };
  await runOk(
    "openssl",
    ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr, "-subj", subj],
    t,
  );
  await runOk(
    "openssl",
    [
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      ca.cert,
      "-CAkey",
      ca.key,
      "-set_serial",
      `0x${crypto.randomBytes(8).toString("hex")}`,
      "-out",
      cert,
      "-days",
      "30",
      "-extfile",
      ext,
    ],
    t,
  );
  return { key, cert, pem: fs.readFileSync(cert, "utf8") };
}

interface Pki {
  ca: CertFiles;
  apiserver: CertFiles;
  apiserverKubeletClient: CertFiles;
  admin: CertFiles;
  controllerManager: CertFiles;
  scheduler: CertFiles;
  node: CertFiles;
  saKey: string;
  saPub: string;
}

async function makePki(dir: string): Promise<Pki> {
  const ca = await makeCa(dir, "ca", "registry-mirrors lab cluster CA");
  const saKey = path.join(dir, "sa.key");
  const saPub = path.join(dir, "sa.pub");
  const saKeys = (async () => {
    await runOk("openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", saKey], { timeoutMs: 20_000 });
    await runOk("openssl", ["pkey", "-in", saKey, "-pubout", "-out", saPub], { timeoutMs: 20_000 });
  })();
  const [apiserver, apiserverKubeletClient, admin, controllerManager, scheduler, node] = await Promise.all([
    issue(dir, ca, {
      name: "apiserver",
      cn: "kube-apiserver",
      server: {
        dns: ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"],
        ips: ["127.0.0.1", "10.0.0.1"],
      },
    }),
    issue(dir, ca, { name: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", org: "system:masters", client: true }),
    issue(dir, ca, { name: "admin", cn: "lab-admin", org: "system:masters", client: true }),
    // system:masters: with one shared client identity (no per-controller service accounts, whose tokens would
    // slow the start) the role system:kube-controller-manager does not cover the controllers' writes.
    issue(dir, ca, { name: "controller-manager", cn: "system:kube-controller-manager", org: "system:masters", client: true }),
    issue(dir, ca, { name: "scheduler", cn: "system:kube-scheduler", client: true }),
    // The kubelet's client certificate (Node authorizer: system:node:<node name>) and its serving certificate.
    issue(dir, ca, {
      name: "node",
      cn: `system:node:${CLUSTER_NODE_NAME}`,
      org: "system:nodes",
      client: true,
      server: { dns: ["localhost"], ips: ["127.0.0.1"] },
    }),
  ]);
  await saKeys;
  return { ca, apiserver, apiserverKubeletClient, admin, controllerManager, scheduler, node, saKey, saPub };
}

/** A kubeconfig for one user; `embed` puts the CA, certificate and key in as base64 data instead of file paths. */
function kubeconfig(server: string, ca: CertFiles, user: string, cert: CertFiles, embed: boolean): string {
  const b64 = (f: string) => fs.readFileSync(f).toString("base64");
  return toYaml({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      { name: "lab", cluster: { server, ...(embed ? { "certificate-authority-data": b64(ca.cert) } : { "certificate-authority": ca.cert }) } },
    ],
    users: [
      {
        name: user,
        user: embed
          ? { "client-certificate-data": b64(cert.cert), "client-key-data": b64(cert.key) }
          : { "client-certificate": cert.cert, "client-key": cert.key },
      },
    ],
    contexts: [{ name: "lab", context: { cluster: "lab", user } }],
    "current-context": "lab",
  });
}

// --- the pause and node-agent images (OCI layouts, imported with ctr) ----------------------------------------------

/** An image of one static Go program: its source directory, the binary's name (the entrypoint) and the image's name. */
interface StaticImage {
  source: string;
  binary: string;
  ref: string;
}

const LAB_IMAGES: StaticImage[] = [
  { source: path.join(REPO_ROOT, "test", "lab", "pause"), binary: "pause", ref: PAUSE_IMAGE },
  { source: path.join(REPO_ROOT, "src", "in-cluster", "pod"), binary: "registry-mirrors-node-agent", ref: NODE_AGENT_IMAGE },
];

/** Build a static Go program (cgo off) and write an OCI archive of an image holding only it, as /<binary>. */
async function buildStaticImage(work: string, image: StaticImage): Promise<string> {
  const root = path.join(work, "rootfs");
  fs.mkdirSync(root, { recursive: true });
  await runOk("go", ["build", "-trimpath", "-ldflags", "-s -w", "-o", path.join(root, image.binary), "."], {
    cwd: image.source,
    env: { ...process.env, CGO_ENABLED: "0", GOTOOLCHAIN: "local", PATH: `${process.env.PATH ?? ""}:/usr/local/go/bin` },
    timeoutMs: 120_000,
  });
  const layerTar = path.join(work, "layer.tar");
  await runOk("tar", ["--owner=0", "--group=0", "--numeric-owner", "--mtime=@1700000000", "-C", root, "-cf", layerTar, image.binary], {
    timeoutMs: 20_000,
  });
  const layout = path.join(work, "layout");
  const tar = fs.readFileSync(layerTar);
  writeImageLayout(layout, {
    layer: tar,
    tar,
    gzip: false,
    config: { Entrypoint: [`/${image.binary}`], Labels: { "org.registry-mirrors.lab": image.binary } },
    history: { created_by: `registry-mirrors lab cluster (${path.relative(REPO_ROOT, image.source)})` },
    annotations: { "io.containerd.image.name": image.ref, "org.opencontainers.image.ref.name": image.ref.split(":")[1] },
  });
  const archive = path.join(work, `${image.binary}.oci.tar`);
  await runOk("tar", ["-C", layout, "-cf", archive, "oci-layout", "index.json", "blobs"], { timeoutMs: 20_000 });
  return archive;
}

// --- configuration files -------------------------------------------------------------------------------------------

/**
 * The node's containerd service: a loop that starts containerd again whenever it exits, until `containerd.stop`
 * exists (recording each pid as `pids/containerd.pid`), and the node's systemctl, which knows containerd.service:
 * restart stops containerd and waits for the loop's new one; is-active asks whether it runs. Every call is appended to
 * `systemctl.log` (time, verb, unit, exit code).
 */
function writeNodeService(dir: string, containerd: string, config: string): { loop: string; systemctl: string } {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const binDir = path.join(dir, "bin");
  fs.mkdirSync(binDir, { recursive: true });
  const loop = path.join(binDir, "containerd-service");
  fs.writeFileSync(
    loop,
    `#!/bin/sh
# containerd of the lab cluster's kubelet node, started again whenever it exits, until containerd.stop exists.
D=${q(dir)}
while [ ! -e "$D/containerd.stop" ]; do
  ${q(containerd)} --config ${q(config)} &
  echo $! > "$D/pids/containerd.pid.new" && mv -f "$D/pids/containerd.pid.new" "$D/pids/containerd.pid"
  wait $!
  sleep 0.5
done
`,
    { mode: 0o755 },
  );
  const systemctl = path.join(binDir, "systemctl");
  fs.writeFileSync(
    systemctl,
    `#!/bin/sh
# systemctl of the lab cluster's kubelet node (registry-mirrors test lab). Knows one unit: containerd.service.
D=${q(dir)}
verb=""; unit=""
for a in "$@"; do
  case "$a" in -*) ;; *) if [ -z "$verb" ]; then verb=$a; elif [ -z "$unit" ]; then unit=\${a%.service}; fi ;; esac
done
rc=0
finish() { printf '%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%S)" "$verb" "$unit" "$rc" >> "$D/systemctl.log"; exit $rc; }
pid=$(cat "$D/pids/containerd.pid" 2>/dev/null)
if [ "$unit" != containerd ]; then echo "Failed to $verb $unit.service: Unit $unit.service not found." >&2; rc=5; finish; fi
case "$verb" in
  restart|try-restart|reload-or-restart)
    kill "$pid" 2>/dev/null
    i=0
    while [ "$i" -lt 150 ]; do
      new=$(cat "$D/pids/containerd.pid" 2>/dev/null)
      if [ -n "$new" ] && [ "$new" != "$pid" ] && kill -0 "$new" 2>/dev/null; then finish; fi
      i=$((i + 1)); sleep 0.1
    done
    echo "Job for containerd.service failed: it did not start again." >&2; rc=1 ;;
  is-active) if kill -0 "$pid" 2>/dev/null; then echo active; else echo inactive; rc=3; fi ;;
  reload) echo "Failed to reload containerd.service: Job type reload is not applicable for unit containerd.service." >&2; rc=1 ;;
  *) echo "systemctl (lab cluster script): $verb is not known here" >&2; rc=1 ;;
esac
finish
`,
    { mode: 0o755 },
  );
  return { loop, systemctl };
}

function containerdConfig(p: Paths, readsHostsDir: boolean): string {
  const q = JSON.stringify;
  return `version = 2
root = ${q(p.containerdRoot)}
state = ${q(p.containerdState)}
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = ${q(p.containerdSock)}

[ttrpc]
  address = ${q(p.containerdSock + ".ttrpc")}

[plugins."io.containerd.internal.v1.opt"]
  path = ${q(path.join(p.dir, "containerd", "opt"))}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${q(PAUSE_IMAGE)}
  stream_server_address = "127.0.0.1"
  stream_server_port = "${CLUSTER_PORTS.containerdStream}"
  disable_apparmor = true
  # This VM drops CAP_SYS_RESOURCE from every bounding set: runc cannot lower oom_score_adj below the caller's.
  restrict_oom_score_adj = true
${
  readsHostsDir
    ? `  # Where registry-mirrors' in-cluster mode writes (without allowConfigEdits it writes hosts files only).
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = ${q(p.hostsDir)}
`
    : ""
}  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = ${q(p.cniConf)}
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        SystemdCgroup = false
        Root = ${q(p.runcRoot)}
`;
}

function kubeletConfig(p: Paths, pki: Pki): string {
  return toYaml({
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    address: "127.0.0.1",
    port: CLUSTER_PORTS.kubelet,
    readOnlyPort: 0,
    healthzBindAddress: "127.0.0.1",
    healthzPort: CLUSTER_PORTS.kubeletHealthz,
    authentication: { x509: { clientCAFile: pki.ca.cert }, webhook: { enabled: false }, anonymous: { enabled: false } },
    authorization: { mode: "AlwaysAllow" },
    tlsCertFile: pki.node.cert,
    tlsPrivateKeyFile: pki.node.key,
    containerRuntimeEndpoint: `unix://${p.containerdSock}`,
    cgroupDriver: "cgroupfs",
    failSwapOn: false,
    // The default has been true since 1.35; this VM has cgroup v1.
    failCgroupV1: false,
    podLogsDir: p.podLogs,
    evictionHard: { "memory.available": "1%", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%" },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    registerNode: true,
  });
}

// --- HTTPS as the admin ----------------------------------------------------------------------------------------------

function apiGet(server: string, pki: Pki, apiPath: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(apiPath, server);
    const req = https.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method: "GET",
        ca: pki.ca.pem,
        cert: pki.admin.pem,
        key: fs.readFileSync(pki.admin.key),
        timeout: timeoutMs,
        headers: { accept: "application/json" },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`GET ${apiPath}: no answer in ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

function httpGet(url: string, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url}: no answer in ${timeoutMs} ms`)));
    req.on("error", reject);
  });
}

// --- start -----------------------------------------------------------------------------------------------------------

/** The cluster's processes (their pid files are `pids/NAME.pid`, their logs `logs/NAME.log`). */
type ProcessName = "kubelet" | "kube-scheduler" | "kube-controller-manager" | "kube-apiserver" | "containerd-service" | "etcd";

/** Where the pre-start state of things outside the directory is recorded, for the clean-up. */
const BEFORE_FILE = "outside-before.json";

interface Before {
  shimSockets: string[];
  hadShimDir: boolean;
  hadLogLinkDir: boolean;
}

/** kubepods cgroup directories (cgroup v1: one per hierarchy; v2: one). */
function kubepodsCgroups(): string[] {
  const out: string[] = [];
  const base = "/sys/fs/cgroup";
  if (fs.existsSync(path.join(base, "kubepods"))) out.push(path.join(base, "kubepods"));
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(base);
  } catch {
    return out;
  }
  for (const e of entries) {
    const d = path.join(base, e, "kubepods");
    try {
      if (!fs.lstatSync(path.join(base, e)).isSymbolicLink() && fs.statSync(d).isDirectory()) out.push(d);
    } catch {
      /* none here */
    }
  }
  return out;
}

/**
 * Start the cluster; resolves once the node is Ready. On any failure everything started so far is stopped and the
 * error names the step, with the tail of that component's log.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const t0 = Date.now();
  const log = options.log ?? (() => undefined);
  const deadline = t0 + (options.timeoutMs ?? 90_000);
  const left = (cap: number) => Math.max(1000, Math.min(cap, deadline - Date.now()));
  const bin = binaries();
  for (const [name, port] of Object.entries(CLUSTER_PORTS)) {
    if (!(await portBindable(port))) {
      throw new Error(`port 127.0.0.1:${port} (${name}) is in use: is another lab cluster running? (one per machine; stop it first)`);
    }
  }
  const leftover = kubepodsCgroups().filter((d) => cgroupProcs(d).length > 0);
  if (leftover.length > 0) throw new Error(`processes are still running in ${leftover.join(", ")}: another kubelet's pods on this machine?`);

  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "regmirror-cluster-"));
  fs.mkdirSync(dir, { recursive: true });
  if (fs.readdirSync(dir).length > 0) throw new Error(`cluster dir ${dir} is not empty`);
  const p = pathsOf(dir);
  for (const d of [p.pki, p.logs, p.etcdData, p.containerdRoot, p.containerdState, p.runcRoot, p.cniConf, p.podLogs]) {
    fs.mkdirSync(d, { recursive: true, mode: 0o700 });
  }
  const before: Before = {
    shimSockets: listDir(SHIM_SOCKET_DIR),
    hadShimDir: fs.existsSync(SHIM_SOCKET_DIR),
    hadLogLinkDir: fs.existsSync(CONTAINER_LOG_LINKS),
  };
  fs.writeFileSync(path.join(dir, BEFORE_FILE), JSON.stringify(before));
  if (options.stopOnExit !== false) registerExitStop(dir);

  const logOf = (name: string) => path.join(p.logs, `${name}.log`);
  const tail = (name: string, n = 15) => {
    try {
      return fs.readFileSync(logOf(name), "utf8").trimEnd().split("\n").slice(-n).join("\n");
    } catch {
      return "(no log)";
    }
  };
  const start = (name: ProcessName, cmd: string, args: string[]) => {
    const pid = spawnRecorded(dir, name, cmd, args, logOf(name));
    log(`[cluster] ${name} started (pid ${pid}, log ${logOf(name)})`);
    return pid;
  };
  const alive = (name: string) => {
    const pid = readPid(dir, name);
    if (!pid || !isAlive(pid)) throw new FatalWaitError(`${name} exited:\n${tail(name)}`);
  };
  const step = async <T>(what: string, name: string, check: () => Promise<T | undefined | false>, capMs: number): Promise<T> => {
    try {
      return await waitFor(
        what,
        async () => {
          alive(name);
          return check();
        },
        left(capMs),
        100,
      );
    } catch (e) {
      throw new Error(`lab cluster: ${(e as Error).message}${e instanceof FatalWaitError ? "" : `\n--- ${name} log:\n${tail(name)}`}`);
    }
  };

  const server = `https://127.0.0.1:${CLUSTER_PORTS.apiserver}`;
  try {
    // 1. certificates, kubeconfigs, the pause image (in parallel with etcd and containerd)
    const pkiP = makePki(p.pki);
    const imagesP = Promise.all(LAB_IMAGES.map((image) => buildStaticImage(path.join(dir, "image", image.binary), image)));

    start("etcd", bin.etcd, [
      "--name=lab",
      `--data-dir=${p.etcdData}`,
      `--listen-client-urls=http://127.0.0.1:${CLUSTER_PORTS.etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${CLUSTER_PORTS.etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${CLUSTER_PORTS.etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${CLUSTER_PORTS.etcdPeer}`,
      `--initial-cluster=lab=http://127.0.0.1:${CLUSTER_PORTS.etcdPeer}`,
      "--logger=zap",
      "--log-level=warn",
    ]);
    fs.writeFileSync(
      path.join(p.cniConf, "10-loopback.conflist"),
      JSON.stringify({ cniVersion: "1.0.0", name: "lab-loopback", plugins: [{ type: "loopback" }] }),
    );
    const containerdToml = path.join(dir, "containerd", "config.toml");
    fs.writeFileSync(containerdToml, containerdConfig(p, options.containerdReadsHostsDir !== false));
    // containerd runs in a service loop (restarted when it exits, as systemd does), so that the node's systemctl can
    // restart it from inside a pod without the new process belonging to that pod.
    const service = writeNodeService(dir, bin.containerd, containerdToml);
    start("containerd-service", "/bin/sh", [service.loop]);
    await waitFor("containerd's pid file", async () => readPid(dir, "containerd") !== undefined || undefined, 5000, 50);

    const pki = await pkiP;
    fs.writeFileSync(p.admin, kubeconfig(server, pki.ca, "lab-admin", pki.admin, true), { mode: 0o600 });
    const kcmConfig = path.join(dir, "controller-manager.kubeconfig");
    const schedConfig = path.join(dir, "scheduler.kubeconfig");
    const kubeletKubeconfig = path.join(dir, "kubelet.kubeconfig");
    fs.writeFileSync(kcmConfig, kubeconfig(server, pki.ca, "system:kube-controller-manager", pki.controllerManager, false));
    fs.writeFileSync(schedConfig, kubeconfig(server, pki.ca, "system:kube-scheduler", pki.scheduler, false));
    fs.writeFileSync(kubeletKubeconfig, kubeconfig(server, pki.ca, `system:node:${CLUSTER_NODE_NAME}`, pki.node, false));

    await step(
      "etcd /health",
      "etcd",
      async () => (await httpGet(`http://127.0.0.1:${CLUSTER_PORTS.etcdClient}/health`)).body.includes('"true"'),
      20_000,
    );
    log(`[cluster] etcd healthy (${Date.now() - t0} ms)`);

    // 2. the API server
    start("kube-apiserver", bin.kubeApiserver, [
      `--etcd-servers=http://127.0.0.1:${CLUSTER_PORTS.etcdClient}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${CLUSTER_PORTS.apiserver}`,
      `--cert-dir=${p.pki}`,
      "--endpoint-reconciler-type=none",
      `--tls-cert-file=${pki.apiserver.cert}`,
      `--tls-private-key-file=${pki.apiserver.key}`,
      `--client-ca-file=${pki.ca.cert}`,
      `--kubelet-client-certificate=${pki.apiserverKubeletClient.cert}`,
      `--kubelet-client-key=${pki.apiserverKubeletClient.key}`,
      `--kubelet-certificate-authority=${pki.ca.cert}`,
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      "--service-cluster-ip-range=10.0.0.0/24",
      "--authorization-mode=Node,RBAC",
      "--enable-priority-and-fairness=false",
      "--profiling=false",
      "--allow-privileged=true",
    ]);

    // 3. containerd up, images imported (while the API server starts)
    await step(
      "containerd's socket",
      "containerd-service",
      async () => fs.existsSync(p.containerdSock) && (await run(bin.ctr, ["--address", p.containerdSock, "version"], { timeoutMs: 5000 })).code === 0,
      20_000,
    );
    for (const archive of await imagesP) {
      await runOk(bin.ctr, ["--address", p.containerdSock, "-n", CRI_NAMESPACE, "images", "import", archive], { timeoutMs: 30_000 });
    }
    log(`[cluster] containerd ready, ${LAB_IMAGES.map((i) => i.ref).join(", ")} imported (${Date.now() - t0} ms)`);

    await step("kube-apiserver /readyz", "kube-apiserver", async () => (await apiGet(server, pki, "/readyz", 3000)).status === 200, 45_000);
    log(`[cluster] kube-apiserver ready (${Date.now() - t0} ms)`);

    // 4. controller manager, scheduler, kubelet
    start("kube-controller-manager", bin.kubeControllerManager, [
      `--kubeconfig=${kcmConfig}`,
      "--bind-address=127.0.0.1",
      `--secure-port=${CLUSTER_PORTS.controllerManager}`,
      `--cert-dir=${path.join(p.pki, "controller-manager")}`,
      "--controllers=*,-nodeipam",
      `--root-ca-file=${pki.ca.cert}`,
      `--service-account-private-key-file=${pki.saKey}`,
      "--use-service-account-credentials=false",
      "--leader-elect=false",
      "--profiling=false",
    ]);
    start("kube-scheduler", bin.kubeScheduler, [
      `--kubeconfig=${schedConfig}`,
      "--bind-address=127.0.0.1",
      `--secure-port=${CLUSTER_PORTS.scheduler}`,
      `--cert-dir=${path.join(p.pki, "scheduler")}`,
      "--leader-elect=false",
      "--profiling=false",
    ]);
    const kubeletYaml = path.join(dir, "kubelet.yaml");
    fs.writeFileSync(kubeletYaml, kubeletConfig(p, pki));
    start("kubelet", bin.kubelet, [
      `--config=${kubeletYaml}`,
      `--kubeconfig=${kubeletKubeconfig}`,
      `--hostname-override=${CLUSTER_NODE_NAME}`,
      `--root-dir=${p.kubeletRoot}`,
      `--cert-dir=${path.join(p.kubeletRoot, "pki")}`,
    ]);

    await step(
      `node ${CLUSTER_NODE_NAME} Ready`,
      "kubelet",
      async () => {
        const r = await apiGet(server, pki, `/api/v1/nodes/${CLUSTER_NODE_NAME}`, 3000);
        if (r.status !== 200) return false;
        const node = JSON.parse(r.body) as { status?: { conditions?: { type: string; status: string }[] } };
        return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
      },
      45_000,
    );
    for (const name of ["kube-controller-manager", "kube-scheduler"]) alive(name);
    const startupMs = Date.now() - t0;
    log(`[cluster] node ${CLUSTER_NODE_NAME} Ready (${startupMs} ms)`);

    const versions = {
      kubernetes: JSON.parse((await apiGet(server, pki, "/version")).body).gitVersion as string,
      etcd: firstLine(await runOk(bin.etcd, ["--version"])),
      containerd: firstLine(await runOk(bin.containerd, ["--version"])),
    };
    const description: ClusterDescription = {
      dir,
      kubeconfig: p.admin,
      server,
      nodeName: CLUSTER_NODE_NAME,
      caPem: pki.ca.pem,
      ports: CLUSTER_PORTS,
      containerdSocket: p.containerdSock,
      hostsDir: p.hostsDir,
      containerdConfig: path.join(dir, "containerd", "config.toml"),
      systemctl: path.join(dir, "bin", "systemctl"),
      pauseImage: PAUSE_IMAGE,
      nodeAgentImage: NODE_AGENT_IMAGE,
      versions,
      startupMs,
    };
    fs.writeFileSync(path.join(dir, "cluster.json"), JSON.stringify(description, null, 2));
    let stopped: ClusterStopReport | undefined;
    const kubectl = (args: string[], o: { input?: string; timeoutMs?: number } = {}) =>
      run(bin.kubectl, ["--kubeconfig", p.admin, ...args], { input: o.input, timeoutMs: o.timeoutMs ?? 60_000, env: labEnv(dir) });
    return {
      ...description,
      describe: () => description,
      kubectl,
      kubectlOk: async (args, o) => {
        const r = await kubectl(args, o);
        if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
        return r.stdout;
      },
      get: async <T>(apiPath: string) => {
        const r = await apiGet(server, pki, apiPath);
        if (r.status < 200 || r.status > 299) throw new Error(`GET ${apiPath}: HTTP ${r.status}: ${r.body.slice(0, 300)}`);
        return JSON.parse(r.body) as T;
      },
      stop: async () => {
        if (!stopped) {
          stopped = stopClusterDirSync(dir, { log });
          unregisterExitStop(dir);
        }
        return stopped;
      },
    };
  } catch (e) {
    const report = stopClusterDirSync(dir, { log, keepDir: !!process.env.REGMIRROR_LAB_KEEP });
    unregisterExitStop(dir);
    const extra = report.survivors.length || report.cgroupsLeft.length ? ` (clean-up left: ${JSON.stringify(report)})` : "";
    throw new Error(`${(e as Error).message}${extra}`);
  }
}

function firstLine(s: string): string {
  return s.trim().split("\n")[0];
}

function listDir(d: string): string[] {
  try {
    return fs.readdirSync(d);
  } catch {
    return [];
  }
}

// --- stop ------------------------------------------------------------------------------------------------------------

function cgroupProcs(cg: string): number[] {
  const out: number[] = [];
  const walk = (d: string) => {
    try {
      for (const line of fs.readFileSync(path.join(d, "cgroup.procs"), "utf8").split("\n")) {
        const n = parseInt(line, 10);
        if (n > 0) out.push(n);
      }
      for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
    } catch {
      /* gone */
    }
  };
  walk(cg);
  return out;
}

/** rmdir a cgroup tree depth-first (cgroup directories hold only kernel files, removed with the directory). */
function removeCgroupTree(d: string): void {
  let entries: fs.Dirent[] = [];
  try {
    entries = fs.readdirSync(d, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) removeCgroupTree(path.join(d, e.name));
  try {
    fs.rmdirSync(d);
  } catch {
    /* busy: reported by the caller */
  }
}

/** Whether a unix socket still has a listener. */
function socketListening(file: string): boolean {
  // Synchronous (usable at exit): a tiny node child process tries to connect.
  const r = spawnSync(
    process.execPath,
    [
      "-e",
      `const s=require("net").connect(process.argv[1]);s.on("connect",()=>process.exit(0));s.on("error",()=>process.exit(1));setTimeout(()=>process.exit(1),1000)`,
      file,
    ],
    { timeout: 3000 },
  );
  return r.status === 0;
}

function killAll(pids: number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      /* gone */
    }
  }
}

function waitGone(pids: number[], ms: number): void {
  const end = Date.now() + ms;
  while (pids.some(isAlive) && Date.now() < end) sleepSync(25);
}

/**
 * Stop the cluster in `dir` synchronously (also used at process exit and after a failed start): the kubelet first,
 * then every pod sandbox through crictl (so containerd's shims exit and unmount), then the control plane, containerd
 * and etcd (SIGTERM, SIGKILL after a grace), then whatever is still in the kubepods cgroups; unmount what is left under
 * the directory, remove this containerd's shim sockets from /run/containerd/s, the kubepods cgroups and the container
 * log links, and finally the directory (unless `keepDir`).
 */
export function stopClusterDirSync(dir: string, opts: { keepDir?: boolean; log?: (l: string) => void } = {}): ClusterStopReport {
  const log = opts.log ?? (() => undefined);
  const p = pathsOf(dir);
  let before: Before = { shimSockets: [], hadShimDir: true, hadLogLinkDir: true };
  try {
    before = JSON.parse(fs.readFileSync(path.join(dir, BEFORE_FILE), "utf8")) as Before;
  } catch {
    /* not started far enough: nothing outside to clean */
  }
  let signalled = 0;
  const stopOne = (name: string, graceMs: number) => {
    const pid = readPid(dir, name);
    if (!pid || !isAlive(pid)) return;
    signalled++;
    killAll([pid], "SIGTERM");
    waitGone([pid], graceMs);
    if (isAlive(pid)) killAll([pid], "SIGKILL");
    waitGone([pid], 3000);
  };
  stopOne("kubelet", 5000);
  const crictl = path.join(toolsBin(), "crictl");
  const cPid = readPid(dir, "containerd");
  if (cPid && isAlive(cPid) && fs.existsSync(crictl)) {
    // crictl insists on a config file (else it looks for /etc/crictl.yaml and warns).
    const crictlYaml = path.join(dir, "crictl.yaml");
    fs.writeFileSync(crictlYaml, `runtime-endpoint: unix://${p.containerdSock}\nimage-endpoint: unix://${p.containerdSock}\ntimeout: 10\n`);
    const r = spawnSync(crictl, ["--config", crictlYaml, "rmp", "--all", "--force"], {
      timeout: 30_000,
      encoding: "utf8",
      env: labEnv(dir),
    });
    log(`[cluster] crictl rmp --all --force: exit ${r.status}${r.stderr ? `: ${r.stderr.trim().slice(0, 300)}` : ""}`);
  }
  // The control plane all at once (the API server waits for its clients otherwise), then containerd and etcd.
  const cp = ["kube-scheduler", "kube-controller-manager", "kube-apiserver"]
    .map((n) => readPid(dir, n))
    .filter((x): x is number => !!x && isAlive(x));
  signalled += cp.length;
  killAll(cp, "SIGTERM");
  waitGone(cp, 5000);
  killAll(cp.filter(isAlive), "SIGKILL");
  waitGone(cp, 3000);
  // The service loop first (it would start containerd again), then containerd.
  fs.writeFileSync(path.join(dir, "containerd.stop"), "");
  stopOne("containerd-service", 2000);
  stopOne("containerd", 5000);
  stopOne("etcd", 5000);
  // Anything left: processes carrying the marker (shims) and in the pods' cgroups (containers).
  const rest = [...new Set([...labProcesses(dir), ...kubepodsCgroups().flatMap(cgroupProcs)])];
  if (rest.length > 0) {
    signalled += rest.length;
    killAll(rest, "SIGKILL");
    waitGone(rest, 3000);
  }
  for (const m of mountsUnder(dir).sort().reverse()) spawnSync("umount", ["-l", m], { timeout: 10_000 });

  // Outside the directory.
  let shimSocketsRemoved = 0;
  for (const e of listDir(SHIM_SOCKET_DIR)) {
    if (before.shimSockets.includes(e)) continue;
    const f = path.join(SHIM_SOCKET_DIR, e);
    if (!socketListening(f)) {
      fs.rmSync(f, { force: true });
      shimSocketsRemoved++;
    }
  }
  if (!before.hadShimDir) {
    for (const d of [SHIM_SOCKET_DIR, path.dirname(SHIM_SOCKET_DIR)]) {
      try {
        fs.rmdirSync(d);
      } catch {
        /* not empty: someone else's */
      }
    }
  }
  for (const e of listDir(CONTAINER_LOG_LINKS)) {
    const f = path.join(CONTAINER_LOG_LINKS, e);
    try {
      if (fs.readlinkSync(f).startsWith(dir + "/")) fs.rmSync(f, { force: true });
    } catch {
      /* not a link */
    }
  }
  if (!before.hadLogLinkDir) {
    try {
      fs.rmdirSync(CONTAINER_LOG_LINKS);
    } catch {
      /* not empty or absent */
    }
  }
  for (const cg of kubepodsCgroups()) if (cgroupProcs(cg).length === 0) removeCgroupTree(cg);

  const survivors = labProcesses(dir);
  const mounts = mountsUnder(dir);
  const cgroupsLeft = kubepodsCgroups();
  let removed = false;
  if (!opts.keepDir && survivors.length === 0 && mounts.length === 0 && fs.existsSync(dir)) {
    try {
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      /* reported below */
    }
  }
  removed = !fs.existsSync(dir);
  log(`[cluster] stopped: ${signalled} processes signalled, ${shimSocketsRemoved} shim sockets removed${removed ? ", dir removed" : ""}`);
  return { signalled, survivors, mounts, shimSocketsRemoved, cgroupsLeft, removed };
}

// --- exit handling ---------------------------------------------------------------------------------------------------

const exitDirs = new Set<string>();
let exitHooked = false;
function registerExitStop(dir: string): void {
  exitDirs.add(dir);
  if (exitHooked) return;
  exitHooked = true;
  process.on("exit", () => {
    for (const d of exitDirs) stopClusterDirSync(d);
  });
}
function unregisterExitStop(dir: string): void {
  exitDirs.delete(dir);
}

/**
 * Registers a Node without a kubelet: its name, labels, InternalIP and `containerRuntimeVersion` as a kubelet would
 * report them (for the nodes of the SSH lab, whose kubelets do not exist). The node is never Ready.
 */
export async function addNode(
  cluster: Cluster,
  node: { name: string; internalIP: string; containerRuntimeVersion: string; labels?: Record<string, string> },
): Promise<void> {
  await cluster.kubectlOk(["create", "-f", "-"], {
    input: JSON.stringify({ apiVersion: "v1", kind: "Node", metadata: { name: node.name, labels: node.labels ?? {} } }),
  });
  await cluster.kubectlOk([
    "patch",
    "node",
    node.name,
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify({
      status: { nodeInfo: { containerRuntimeVersion: node.containerRuntimeVersion }, addresses: [{ type: "InternalIP", address: node.internalIP }] },
    }),
  ]);
}
