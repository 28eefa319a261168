/**
 * One lab node: an sshd (and, for containerd nodes, a containerd) inside a private mount namespace.
 *
 * Inside the namespace (set up by `DIR/nodes/NAME/boot.sh`, run by `unshare -m --propagation private`):
 * - `/etc`, `/var`, `/home` are overlays (lower = the machine's directory, upper = `NODE/etc`, `NODE/var`,
 *   `NODE/home`), so a node can create and rename anything there while the machine's files stay untouched; the lab
 *   pre-populates the upper dirs (`/etc/hosts`, CA bundle, `/etc/containerd/config.toml`, `/etc/crictl.yaml`,
 *   passwd/group/shadow/sudoers for the `lab` user…);
 * - `/var/lib/containerd` and `/var/lib/containers` are bind mounts of plain lab directories (overlayfs snapshotters
 *   cannot sit on an overlay);
 * - `/run` is a fresh tmpfs (with `/run/sshd`), `/root` and `/tmp` are lab directories (the lab dir stays reachable at
 *   its own path), `/usr/local/bin` is the node's bin dir (systemctl, journalctl, crictl, crio shims);
 * - containerd 2.x nodes get `.tools/bin/containerd2` and `ctr2` bound over `/usr/bin/containerd` and `/usr/bin/ctr`;
 *   CRI-O-style nodes get `/usr/bin` overlaid with whiteouts so no containerd binary exists there.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LAB_MARKER, LAB_PATH } from "./proc";
import type { ContainerdConfigVariant, NodeRuntime, NodeSpec, NodeUser, SudoMode } from "./types";

/** Names that resolve to 127.0.0.1 (the upstream front) inside every node. */
export const UPSTREAM_NAMES = ["docker.io", "registry-1.docker.io", "index.docker.io", "gcr.io", "icr.io", "quay.io", "registry.local"];

/** Extra name for the auth mirror (its certificate covers it too). */
export const AUTH_MIRROR_NAME = "auth-mirror.local";

/** Fully resolved node spec. */
export interface ResolvedNodeSpec {
  name: string;
  runtime: NodeRuntime;
  user: NodeUser;
  sudo: "none" | SudoMode;
  config?: ContainerdConfigVariant;
}

/** The default mix of node kinds; `nodes: N` takes the first N of this list (then plain containerd 1.6 nodes). */
export const DEFAULT_MIX: NodeSpec[] = [
  { runtime: "containerd" },
  { runtime: "containerd2" },
  { runtime: "crio" },
  { runtime: "containerd", user: "lab", sudo: "nopasswd" },
  { runtime: "containerd", user: "lab", sudo: "password" },
  { runtime: "containerd", config: "no-config-path" },
  { runtime: "containerd", config: "legacy-mirrors" },
  { runtime: "containerd2", user: "lab", sudo: "nopasswd" },
  { runtime: "containerd", config: "minimal" },
];

export function resolveSpecs(nodes: NodeSpec[] | number | undefined): ResolvedNodeSpec[] {
  const specs: NodeSpec[] =
    typeof nodes === "number" || nodes === undefined
      ? Array.from({ length: nodes ?? 3 }, (_, i) => DEFAULT_MIX[i] ?? { runtime: "containerd" })
      : nodes;
  const seen = new Set<string>();
  return specs.map((s, i) => {
    const name = s.name ?? `node${i + 1}`;
    if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(name)) throw new Error(`bad node name ${JSON.stringify(name)}`);
    if (seen.has(name)) throw new Error(`duplicate node name ${name}`);
    seen.add(name);
    const runtime = s.runtime ?? "containerd";
    const user = s.user ?? "root";
    if (user === "root" && s.sudo) throw new Error(`node ${name}: sudo applies only to user "lab"`);
    const sudo = user === "lab" ? (s.sudo ?? "nopasswd") : "none";
    let config: ContainerdConfigVariant | undefined;
    if (runtime !== "crio" && !isRancher(runtime)) {
      config = s.config ?? "default";
      if (runtime === "containerd2" && (config === "no-config-path" || config === "legacy-mirrors")) {
        throw new Error(`node ${name}: config variant ${config} is only offered for containerd 1.6`);
      }
    } else if (s.config) {
      throw new Error(`node ${name}: a ${isRancher(runtime) ? runtime : "CRI-O-style"} node has no containerd config`);
    }
    return { name, runtime, user, sudo, config };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// containerd config.toml variants

const CRI16 = `plugins."io.containerd.grpc.v1.cri"`;

/** Realistic containerd config.toml for a node (see {@link ContainerdConfigVariant}). */
export function containerdConfig(runtime: NodeRuntime, variant: ContainerdConfigVariant, nodeName: string): string {
  if (runtime === "containerd2") {
    if (variant === "minimal") {
      return `# containerd 2.x configuration of lab node ${nodeName} (minimal)\nversion = 3\n`;
    }
    return `# containerd 2.x configuration of lab node ${nodeName}.
# Based on \`containerd config default\` (config version 3), trimmed. Only image pulls are used in this lab.
version = 3
root = '/var/lib/containerd'
state = '/run/containerd'
disabled_plugins = []
oom_score = 0

[grpc]
  address = '/run/containerd/containerd.sock'
  max_recv_message_size = 16777216
  max_send_message_size = 16777216

[debug]
  level = 'info'

[metrics]
  address = ''

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    disable_snapshot_annotations = true
    discard_unpacked_layers = false
    max_concurrent_downloads = 3
    image_pull_progress_timeout = '5m0s'

    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = 'registry.k8s.io/pause:3.10'

    # Registry configuration: hosts.toml files under config_path (containerd/docs/hosts.md).
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = ''

  [plugins.'io.containerd.cri.v1.runtime']
    enable_selinux = false
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          SystemdCgroup = true
    # No CNI plugins are installed on lab nodes (pulls only).
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ['/opt/cni/bin']
      conf_dir = '/etc/cni/net.d'

  [plugins.'io.containerd.grpc.v1.cri']
    disable_tcp_service = true
    stream_server_address = '127.0.0.1'
    stream_server_port = '0'
`;
  }
  if (variant === "minimal") {
    return `# containerd configuration of lab node ${nodeName} (minimal)\nversion = 2\n`;
  }
  let registry: string;
  if (variant === "default") {
    registry = `    # Registry configuration. Empty config_path: CRI ignores /etc/containerd/certs.d.
    [${CRI16}.registry]
      config_path = ""

      [${CRI16}.registry.auths]

      [${CRI16}.registry.configs]

      [${CRI16}.registry.headers]

      [${CRI16}.registry.mirrors]
`;
  } else if (variant === "no-config-path") {
    registry = `    [${CRI16}.registry]
      [${CRI16}.registry.configs]
`;
  } else {
    registry = `    # Deprecated mirror configuration (containerd < 1.5 style).
    [${CRI16}.registry]
      [${CRI16}.registry.mirrors]
        [${CRI16}.registry.mirrors."docker.io"]
          endpoint = ["https://registry-1.docker.io"]
`;
  }
  return `# containerd configuration of lab node ${nodeName}.
# Based on \`containerd config default\` (containerd 1.6, config version 2), trimmed. Only image pulls are used here.
version = 2

root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = []
required_plugins = []
oom_score = 0

[grpc]
  address = "/run/containerd/containerd.sock"
  max_recv_message_size = 16777216
  max_send_message_size = 16777216

[debug]
  level = "info"

[metrics]
  address = ""

[plugins]

  [${CRI16}]
    sandbox_image = "registry.k8s.io/pause:3.6"
    max_concurrent_downloads = 3
    enable_selinux = false
    disable_tcp_service = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"

    [${CRI16}.containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      discard_unpacked_layers = false

      [${CRI16}.containerd.runtimes]
        [${CRI16}.containerd.runtimes.runc]
          runtime_type = "io.containerd.runc.v2"
          [${CRI16}.containerd.runtimes.runc.options]
            SystemdCgroup = true

    # No CNI plugins are installed on lab nodes (pulls only).
    [${CRI16}.cni]
      bin_dir = "/opt/cni/bin"
      conf_dir = "/etc/cni/net.d"

${registry}
  [plugins."io.containerd.internal.v1.opt"]
    path = "/opt/containerd"
`;
}

// ---------------------------------------------------------------------------------------------------------------
// scripts

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export interface NodePaths {
  lab: string;
  node: string;
  name: string;
}

/** The runtime "unit" script (start/stop/status) used by boot.sh and the lab's systemctl. */
export function serviceScript(p: NodePaths, runtime: NodeRuntime): string {
  const head = `#!/bin/sh
# Runtime service of lab node ${p.name} (registry-mirrors test lab): start | start-nowait | stop | state | pid
LAB=${q(p.lab)}
N=${q(p.node)}
NAME=${q(p.name)}
STATE="$N/runtime.state"
`;
  const crio = runtime === "crio";
  const docker = runtime === "docker";
  const k3s = isRancher(runtime);
  const daemon = crio ? "crio" : docker ? "dockerd" : k3s ? runtime : "containerd";
  // The daemon and how to tell it answers: real CRI-O 1.36 (its config in the node's /etc/crio), containerd, or the
  // k3s stand-in that becomes containerd.
  const command = crio
    ? "crio --config /etc/crio/crio.conf"
    : k3s
      ? `${runtime} server`
      : docker
        ? // Its own data and exec roots, pidfile and socket in the node; no iptables, no bridge (nothing runs, only pulls).
          "dockerd --data-root /var/lib/docker --exec-root /run/docker --pidfile /run/docker.pid --host unix:///run/docker.sock --iptables=false --ip-masq=false --ip-forward=false --bridge=none --storage-driver vfs"
        : "containerd";
  const answers = crio
    ? `[ -S "$SOCK" ] && timeout 3 crictl --runtime-endpoint "unix://$SOCK" version >/dev/null 2>&1`
    : docker
      ? `[ -S "$SOCK" ] && timeout 3 docker --host "unix://$SOCK" version >/dev/null 2>&1`
      : `[ -S "$SOCK" ] && timeout 3 ctr --address "$SOCK" version >/dev/null 2>&1`;
  const socket = crio ? "/run/crio/crio.sock" : docker ? "/run/docker.sock" : k3s ? K3S_SOCKET : "/run/containerd/containerd.sock";
  return `${head}PIDFILE="$LAB/pids/$NAME.${daemon}.pid"
LOG="$N/${daemon}.log"
SOCK=${socket}
START_TIMEOUT_DS=300   # 30 s, in tenths
STOP_TIMEOUT_DS=100    # 10 s

ours() { { tr '\\0' '\\n' < "/proc/$1/environ"; } 2>/dev/null | grep -qx "${LAB_MARKER}=$LAB"; }
alive() {
  p=$(cat "$PIDFILE" 2>/dev/null) || return 1
  [ -n "$p" ] && [ -e "/proc/$p/stat" ] || return 1
  st=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -c1)
  [ "$st" != Z ] && [ "$st" != X ] && ours "$p"
}
answers() { ${answers}; }
stamp() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }

do_stop() {
  if alive; then
    p=$(cat "$PIDFILE")
    echo "$(stamp) lab: stopping ${daemon} (pid $p)" >> "$LOG"
    kill -TERM "$p" 2>/dev/null
    i=0
    while alive && [ $i -lt $STOP_TIMEOUT_DS ]; do sleep 0.1; i=$((i+1)); done
    if alive; then kill -KILL "$p" 2>/dev/null; sleep 0.2; fi
  fi
  rm -f "$PIDFILE"
  echo inactive > "$STATE"
}

do_start() {
  if alive; then return 0; fi
  if [ -e "$N/fail-next-restart" ]; then
    rm -f "$N/fail-next-restart"
    echo "$(stamp) lab: start refused (fail-next-restart flag was set)" >> "$LOG"
    echo failed > "$STATE"
    return 1
  fi
  mkdir -p "$(dirname "$SOCK")"
  echo "$(stamp) lab: starting ${daemon}" >> "$LOG"
  setsid env -i PATH=${q(LAB_PATH)} HOME=/root LANG=C.UTF-8 ${LAB_MARKER}="$LAB" ${command} </dev/null >>"$LOG" 2>&1 &
  echo $! > "$PIDFILE"
  echo activating > "$STATE"
  [ "$1" = nowait ] && return 0
  i=0
  while [ $i -lt $START_TIMEOUT_DS ]; do
    if answers; then echo active > "$STATE"; return 0; fi
    # Right after the fork the child has not exec'd the daemon yet (no lab marker in its environment): a live,
    # non-zombie child counts as starting for up to 2 s.
    if ! alive; then
      sp=$(cat "$PIDFILE" 2>/dev/null); ss=$(sed 's/.*) //' "/proc/$sp/stat" 2>/dev/null | cut -c1)
      { [ -n "$ss" ] && [ "$ss" != Z ] && [ "$ss" != X ] && [ $i -lt 20 ]; } || break
    fi
    sleep 0.1; i=$((i+1))
  done
  echo "$(stamp) lab: ${daemon} did not come up" >> "$LOG"
  alive && kill -KILL "$(cat "$PIDFILE")" 2>/dev/null
  rm -f "$PIDFILE"
  echo failed > "$STATE"
  return 1
}

# reload: SIGHUP, which CRI-O answers by re-reading its configuration and registries.conf(.d), and dockerd by
# re-reading daemon.json (registry-mirrors and insecure-registries among others); containerd has none.
do_reload() {
  alive || return 1
  echo "$(stamp) lab: reloading ${daemon} (SIGHUP to pid $(cat "$PIDFILE"))" >> "$LOG"
  kill -HUP "$(cat "$PIDFILE")"
}

case "$1" in
  start) do_start wait ;;
  start-nowait) do_start nowait ;;
  stop) do_stop ;;
  reload) do_reload ;;
  state)
    if alive; then
      s=$(cat "$STATE" 2>/dev/null); if [ "$s" = activating ] && answers; then echo active > "$STATE"; s=active; fi
      echo "\${s:-active}"
    else
      s=$(cat "$STATE" 2>/dev/null); [ "$s" = failed ] && echo failed || echo inactive
    fi ;;
  pid) alive && cat "$PIDFILE" || echo 0 ;;
  *) echo "usage: $0 start|start-nowait|stop|reload|state|pid" >&2; exit 2 ;;
esac
`;
}

/** lab systemctl (on the node's PATH as /usr/local/bin/systemctl). */
export function systemctlScript(p: NodePaths, unit: string): string {
  return `#!/bin/sh
# lab systemctl of lab node ${p.name} (registry-mirrors test lab). Knows one unit: ${unit}.service.
# Every call is appended to $N/systemctl.log: time, verb, unit, uid, exit code (tab separated).
N=${q(p.node)}
UNIT=${q(unit)}
SERVICE="$N/lib/service.sh"
LOG="$N/systemctl.log"
verb=""; unit=""; value=""; props=""
while [ $# -gt 0 ]; do
  case "$1" in
    -p|--property) props="$props $2"; shift ;;
    --property=*) props="$props \${1#--property=}" ;;
    --value) value=1 ;;
    -*) ;;
    *) if [ -z "$verb" ]; then verb=$1; elif [ -z "$unit" ]; then unit=$1; fi ;;
  esac
  shift
done
unit=\${unit%.service}
rc=0
finish() {
  printf '%s\\t%s\\t%s\\t%s\\t%s\\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$verb" "$unit" "$(id -u)" "$rc" >> "$LOG" 2>/dev/null
  exit $rc
}
need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "Failed to $verb $unit.service: Interactive authentication required." >&2
    echo "See system logs and 'systemctl status $unit.service' for details." >&2
    rc=4; finish
  fi
}
failed_job() {
  echo "Job for $unit.service failed because the control process exited with error code." >&2
  echo "See \\"systemctl status $unit.service\\" and \\"journalctl -xeu $unit.service\\" for details." >&2
  rc=1
}
case "$verb" in
  daemon-reload|daemon-reexec) need_root; finish ;;
  "") echo "systemctl (lab script): no verb" >&2; rc=1; finish ;;
esac
if [ "$unit" != "$UNIT" ]; then
  case "$verb" in
    status|is-active|is-enabled|show) echo "Unit $unit.service could not be found." >&2; rc=4 ;;
    *) echo "Failed to $verb $unit.service: Unit $unit.service not found." >&2; rc=5 ;;
  esac
  finish
fi
case "$verb" in
  restart|try-restart|condrestart|reload-or-restart|try-reload-or-restart|force-reload)
    need_root
    "$SERVICE" stop
    "$SERVICE" start || failed_job ;;
  start) need_root; "$SERVICE" start || failed_job ;;
  stop) need_root; "$SERVICE" stop ;;
  reload)
    need_root
    if [ "$UNIT" = containerd ]; then
      echo "Failed to reload containerd.service: Job type reload is not applicable for unit containerd.service." >&2
      rc=1
    else
      "$SERVICE" reload || { echo "Failed to reload $unit.service: not active" >&2; rc=1; }
    fi ;;
  is-active)
    s=$("$SERVICE" state); echo "$s"; [ "$s" = active ] || rc=3 ;;
  is-enabled) echo enabled ;;
  is-failed)
    s=$("$SERVICE" state); if [ "$s" = failed ]; then echo failed; else echo "$s"; rc=1; fi ;;
  status)
    s=$("$SERVICE" state); pid=$("$SERVICE" pid)
    case "$s" in active) sub="active (running)" ;; failed) sub="failed (Result: exit-code)" ;; *) sub="inactive (dead)" ;; esac
    echo "* $unit.service - $unit (registry-mirrors lab script)"
    echo "     Loaded: loaded (/lib/systemd/system/$unit.service; enabled; preset: enabled)"
    echo "     Active: $sub"
    [ "$pid" != 0 ] && echo "   Main PID: $pid ($unit)"
    [ "$s" = active ] || rc=3 ;;
  show)
    s=$("$SERVICE" state); pid=$("$SERVICE" pid)
    case "$s" in active) sub=running ;; failed) sub=failed ;; *) sub=dead ;; esac
    for kv in "ActiveState=$s" "SubState=$sub" "MainPID=$pid" "LoadState=loaded" "UnitFileState=enabled" "Id=$unit.service"; do
      k=\${kv%%=*}
      if [ -n "$props" ]; then case " $props " in *" $k "*) ;; *) continue ;; esac; fi
      if [ -n "$value" ]; then echo "\${kv#*=}"; else echo "$kv"; fi
    done ;;
  enable|disable|mask|unmask) need_root ;;
  *) echo "Unknown command verb $verb (lab script)." >&2; rc=1 ;;
esac
finish
`;
}

/** lab journalctl: `journalctl -u UNIT [-n N]` prints the tail of the runtime's log. */
export function journalctlScript(p: NodePaths, unit: string, logFile: string): string {
  return `#!/bin/sh
# lab journalctl of lab node ${p.name} (registry-mirrors test lab): -u ${unit} [-n N] prints the runtime log tail.
n=10; unit=""
while [ $# -gt 0 ]; do
  case "$1" in
    -u|--unit) unit=$2; shift ;;
    --unit=*) unit=\${1#--unit=} ;;
    -n|--lines) n=$2; shift ;;
    --lines=*) n=\${1#--lines=} ;;
    -n*) n=\${1#-n} ;;
    -xeu|-eu|-xu) unit=$2; shift ;;
    *) ;;
  esac
  shift
done
unit=\${unit%.service}
if [ "$unit" != ${q(unit)} ]; then echo "-- No entries --"; exit 0; fi
[ "$n" = all ] && n=1000000
tail -n "$n" ${q(logFile)} 2>/dev/null
exit 0
`;
}

/**
 * CRI-O's configuration on a lab node: vfs storage under the node's /var/lib/containers, sockets and state in its
 * private /run, Debian's conmon and runc, cgroupfs, no NRI, a signature policy that accepts anything (lab images are
 * unsigned), and the auth file the component writes. Registries come from the node's /etc/containers like on a real
 * node. Pulls need no pod, so CNI is configured but never used.
 */
export function crioConfig(name: string, toolsBin: string): string {
  return `# CRI-O configuration of lab node ${name} (registry-mirrors test lab): real CRI-O, its state inside the node
[crio]
root = "/var/lib/containers/storage"
runroot = "/run/containers/storage"
storage_driver = "vfs"
log_dir = "/var/log/crio/pods"
version_file = "/run/crio/version"
version_file_persist = "/var/lib/crio/version"
clean_shutdown_file = "/var/lib/crio/clean.shutdown"

[crio.api]
listen = "/run/crio/crio.sock"
stream_address = "127.0.0.1"
stream_port = "0"

[crio.runtime]
default_runtime = "runc"
conmon = "/usr/bin/conmon"
conmon_cgroup = "pod"
cgroup_manager = "cgroupfs"
pinns_path = "${path.join(toolsBin, "pinns")}"
container_exits_dir = "/run/crio/exits"
container_attach_socket_dir = "/run/crio"
namespaces_dir = "/run/crio/ns"

[crio.runtime.runtimes.runc]
runtime_path = "/usr/sbin/runc"
runtime_root = "/run/runc"

[crio.image]
signature_policy = "/etc/crio/policy.json"
global_auth_file = "/etc/containers/registry-mirrors-auth.json"

[crio.network]
network_dir = "/etc/cni/net.d"
plugin_dirs = ["/usr/lib/cni"]

[crio.nri]
enable_nri = false

[crio.metrics]
enable_metrics = false
`;
}

/** k3s's containerd socket (k3s and RKE2 alike). */
export const K3S_SOCKET = "/run/k3s/containerd/containerd.sock";

/** Whether a lab runtime is a k3s or RKE2 layout (a stand-in of the distribution around containerd). */
export function isRancher(runtime: NodeRuntime): runtime is "k3s" | "rke2" {
  return runtime === "k3s" || runtime === "rke2";
}

/** The systemd unit of a node's runtime, as the distribution or package names it. */
export function runtimeUnit(runtime: NodeRuntime): string {
  return ({ crio: "crio", docker: "docker", k3s: "k3s", rke2: "rke2-server" } as Record<string, string>)[runtime] ?? "containerd";
}

/**
 * `/usr/local/bin/k3s` (or `rke2`) of a k3s- or RKE2-layout node: `--version`, `ctr` and `crictl` as the distribution
 * has them (on k3s's socket), and `server`/`agent`, which regenerates the containerd configuration from
 * registries.yaml as k3s does at each start (test/lab/k3s-stand-in.js) and then becomes the embedded containerd
 * (exec: the unit's process stays the same).
 */
export function k3sScript(name: string, program: "k3s" | "rke2", standIn: string): string {
  const version = program === "k3s" ? "v1.31.4+k3s1" : "v1.31.4+rke2r1";
  return `#!/bin/sh
# ${program} stand-in of lab node ${name} (registry-mirrors test lab); see ${standIn}.
case "$1" in
  --version | -v | version) echo "${program} version ${version} (registry-mirrors lab stand-in)"; echo "go version go1.26.8"; exit 0 ;;
  ctr)
    shift
    case " $* " in *" --address "* | *" -a "*) exec ctr "$@" ;; esac
    exec ctr --address ${K3S_SOCKET} "$@" ;;
  crictl) shift; exec crictl --runtime-endpoint unix://${K3S_SOCKET} "$@" ;;
  server | agent)
    config=$(node ${q(standIn)} generate /etc/rancher/${program}/registries.yaml /var/lib/rancher/${program} ${program}) || exit 1
    mkdir -p /run/k3s/containerd
    exec containerd --config "$config" ;;
  *) echo "${program} (lab stand-in): unknown command $1" >&2; exit 1 ;;
esac
`;
}

/** The signature policy of a lab CRI-O node: the lab's images are not signed. */
export const CRIO_POLICY = `{ "default": [{ "type": "insecureAcceptAnything" }] }\n`;

export interface BootOptions {
  paths: NodePaths;
  runtime: NodeRuntime;
  toolsBin: string;
  /** Whiteouts to create in the /usr/bin overlay (CRI-O-style node). */
  hideUsrBin: string[];
}

/** The script run as `unshare -m --propagation private sh boot.sh`: private mounts, runtime, then exec sshd. */
export function bootScript(o: BootOptions): string {
  const { lab, node, name } = o.paths;
  const tmpRoot = os.tmpdir().replace(/\/+$/, "") || "/tmp";
  const labUnderTmp = lab === tmpRoot || lab.startsWith(tmpRoot + "/") ? "1" : "";
  const lines: string[] = [
    "#!/bin/sh",
    `# Lab node ${name}: private mounts (this shell runs in its own mount namespace), runtime, then sshd.`,
    "set -eu",
    `LAB=${q(lab)}`,
    `N=${q(node)}`,
    `TMPROOT=${q(tmpRoot)}`,
    `LAB_UNDER_TMP=${labUnderTmp}`,
    `mount --make-rprivate / 2>/dev/null || true`,
    `cd "$LAB"`,
    `# private /tmp; the lab dir stays reachable at its own path (cwd still points at it)`,
    `mount --bind "$N/tmp" "$TMPROOT"`,
    `if [ -n "$LAB_UNDER_TMP" ]; then mkdir -p "$LAB"; mount --no-canonicalize --bind . "$LAB"; fi`,
    `ovl() { mount -t overlay "lab-${name}" -o "lowerdir=$1,upperdir=$N/$2,workdir=$N/.work/$2" "$1"; }`,
    `ovl /etc etc`,
    `ovl /var var`,
    `ovl /home home`,
    `mount --bind "$N/root" /root`,
    `mount --bind "$N/bin" /usr/local/bin`,
    `mount -t tmpfs -o mode=0755,size=64m "lab-${name}-run" /run`,
    `mkdir -p /run/sshd /run/lock && chmod 1777 /run/lock`,
    `mount --bind "$N/data/containerd" /var/lib/containerd`,
    `mount --bind "$N/data/containers" /var/lib/containers`,
  ];
  if (o.runtime === "docker") {
    lines.push(`mkdir -p "$N/data/docker" /var/lib/docker`, `mount --bind "$N/data/docker" /var/lib/docker`);
  }
  if (o.runtime === "containerd2") {
    lines.push(`mount --bind ${q(path.join(o.toolsBin, "containerd2"))} /usr/bin/containerd`);
    lines.push(`mount --bind ${q(path.join(o.toolsBin, "ctr2"))} /usr/bin/ctr`);
  }
  if (o.hideUsrBin.length > 0) {
    for (const b of o.hideUsrBin) lines.push(`[ -e "$N/usrbin/${b}" ] || mknod "$N/usrbin/${b}" c 0 0`);
    lines.push(`ovl /usr/bin usrbin`);
  }
  lines.push(`"$N/lib/service.sh" start-nowait`);
  lines.push(`exec /usr/sbin/sshd -D -e -f "$N/sshd_config"`);
  return lines.join("\n") + "\n";
}

export function sshdConfig(p: NodePaths, port: number, user: NodeUser): string {
  return `# sshd of lab node ${p.name} (registry-mirrors test lab)
ListenAddress 127.0.0.1
Port ${port}
HostKey ${p.node}/ssh_host_ed25519_key
AuthorizedKeysFile ${p.node}/authorized_keys
AllowUsers ${user}
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin ${user === "root" ? "prohibit-password" : "no"}
StrictModes no
UsePAM no
LogLevel VERBOSE
PidFile none
PrintMotd no
PrintLastLog no
X11Forwarding no
PermitUserEnvironment no
MaxStartups 200:30:400
MaxSessions 64
LoginGraceTime 30
Subsystem sftp internal-sftp
`;
}

/** `/etc/hosts` of a node: the machine's loopback names plus every lab registry name, all 127.0.0.1. */
export function nodeHosts(name: string): string {
  return `# /etc/hosts of lab node ${name} (registry-mirrors test lab; the machine's /etc/hosts is untouched)
127.0.0.1 localhost
127.0.0.1 ${os.hostname()}
# lab upstream registry front (nginx, TLS on 127.0.0.1:443, certificate from the lab public CA)
${UPSTREAM_NAMES.map((n) => `127.0.0.1 ${n}`).join("\n")}
# lab HTTPS mirror with a private CA (not in this node's CA bundle)
127.0.0.1 ${AUTH_MIRROR_NAME}
`;
}

export function crictlYaml(socket = "/run/containerd/containerd.sock"): string {
  return `runtime-endpoint: unix://${socket}
image-endpoint: unix://${socket}
timeout: 30
debug: false
pull-image-on-create: false
`;
}

/** Write a file, creating parent dirs. */
export function put(file: string, content: string | Buffer, mode = 0o644): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content, { mode });
  fs.chmodSync(file, mode);
}
