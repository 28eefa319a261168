#!/usr/bin/env bash
# Smoke test for the tools that scripts/tools.sh builds into .tools/bin.
#
#   test/tools/smoke.sh                 # containerd2 + crictl + pulumi
#   test/tools/smoke.sh containerd2 crictl
#
# Everything runs on 127.0.0.1 under a fresh temp dir; every process started
# here is killed by its pid on exit and the temp dir is removed
# (KEEP_LAB=1 keeps it for debugging).
#
# containerd2 : start containerd 2.x (config version 3, own root/state/socket,
#               CRI registry config_path), `ctr2 version`, CRI plugin "ok".
# crictl      : a docker-registry on 127.0.0.1:<port> holding a hand-made OCI
#               image; `crictl pull` + `crictl inspecti -o json` against
#               Debian's containerd 1.6 (config version 2) and containerd 2.x,
#               both resolving the registry through certs.d/<host>/hosts.toml.
# pulumi      : a one-resource Node.js program (command.local.Command "echo
#               hi") through `pulumi stack init/up/destroy`, fully offline,
#               with a file:// backend.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN="$ROOT/.tools/bin"
export PATH="$BIN:$PATH"

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(containerd2 crictl pulumi)

LAB=$(mktemp -d /tmp/tools-smoke.XXXXXX)
PIDS=()
pass=0
fail=0
skip=0

cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  # containerd may leave overlay/tmpfs mounts under its root/state
  if command -v findmnt >/dev/null; then
    { findmnt -rn -o TARGET | grep "^$LAB/" | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done; } || true
  fi
  if [ "${KEEP_LAB:-}" = 1 ]; then echo "lab kept: $LAB"; else rm -rf "$LAB"; fi
}
trap cleanup EXIT

log() { printf '[smoke] %s\n' "$*"; }
ok() { pass=$((pass + 1)); log "ok: $*"; }
ko() { fail=$((fail + 1)); log "FAIL: $*"; }

need() {
  local b
  for b in "$@"; do
    command -v "$b" >/dev/null || { echo "missing $b (run scripts/tools.sh, or apt-get install it)" >&2; exit 2; }
  done
}

free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 20000))
    if ! ss -ltnH "sport = :$p" | grep -q .; then echo "$p"; return; fi
  done
  echo "no free port" >&2; return 1
}

wait_for() { # wait_for SECONDS CMD...
  local t=$1; shift
  for _ in $(seq 1 $((t * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

# --- containerd ---------------------------------------------------------------

# start_containerd NAME BINARY CONFIG-VERSION [REGISTRY-HOSTPORT] -> sets SOCK
start_containerd() {
  local name=$1 bin=$2 ver=$3 reg=${4:-} d="$LAB/$1" table
  mkdir -p "$d/certs.d"
  if [ "$ver" = 3 ]; then table='plugins."io.containerd.cri.v1.images".registry'; else table='plugins."io.containerd.grpc.v1.cri".registry'; fi
  cat >"$d/config.toml" <<EOF
version = $ver
root = "$d/root"
state = "$d/state"
[grpc]
  address = "$d/containerd.sock"
[ttrpc]
  address = "$d/containerd.sock.ttrpc"
[debug]
  address = "$d/debug.sock"
[$table]
  config_path = "$d/certs.d"
EOF
  if [ -n "$reg" ]; then
    # The local registry itself, and a name that does not resolve
    # (upstream.test:<port>) which only works if config_path/hosts.toml is used.
    local h
    for h in "$reg" "upstream.test:${reg##*:}"; do
      mkdir -p "$d/certs.d/$h"
      cat >"$d/certs.d/$h/hosts.toml" <<EOF
server = "http://$reg"

[host."http://$reg"]
  capabilities = ["pull", "resolve"]
EOF
    done
  fi
  "$bin" --config "$d/config.toml" >"$d/containerd.log" 2>&1 &
  PIDS+=($!)
  SOCK="$d/containerd.sock"
  if ! wait_for 20 test -S "$SOCK"; then
    tail -20 "$d/containerd.log" >&2
    return 1
  fi
}

check_cri_plugin() { # check_cri_plugin CTR SOCK
  "$1" --address "$2" plugins ls | awk '$1 == "io.containerd.grpc.v1" && $2 == "cri" {print $NF}' | grep -qx ok
}

step_containerd2() {
  need containerd2 ctr2
  local v
  v=$(containerd2 --version 2>/dev/null)
  log "$v"
  start_containerd c2only containerd2 3 || { ko "containerd2 did not start"; return; }
  if ctr2 --address "$SOCK" version >"$LAB/c2only/version.txt" 2>&1 && grep -q 'Server:' "$LAB/c2only/version.txt"; then
    ok "ctr2 version answers: $(grep -A1 Server: "$LAB/c2only/version.txt" | tail -1 | xargs)"
  else
    ko "ctr2 version"; cat "$LAB/c2only/version.txt"
  fi
  if check_cri_plugin ctr2 "$SOCK"; then ok "containerd2: io.containerd.grpc.v1 cri ok"; else ko "containerd2: CRI plugin not ok"; fi
}

# --- registry + image ------------------------------------------------------------

REG=""
start_registry() {
  [ -z "$REG" ] || return 0
  need docker-registry skopeo
  local port d="$LAB/registry"
  port=$(free_port)
  mkdir -p "$d/data"
  cat >"$d/config.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $d/data
http:
  addr: 127.0.0.1:$port
EOF
  docker-registry serve "$d/config.yml" >"$d/registry.log" 2>&1 &
  PIDS+=($!)
  wait_for 20 curl -fsS "http://127.0.0.1:$port/v2/" || { tail "$d/registry.log" >&2; return 1; }
  REG="127.0.0.1:$port"
  make_oci_layout "$LAB/image"
  skopeo copy -q --dest-tls-verify=false "oci:$LAB/image:1.0" "docker://$REG/library/hello:1.0"
  IMG_DIGEST=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG/library/hello:1.0")
  log "registry $REG serves library/hello:1.0 ($IMG_DIGEST)"
}

# A one-layer OCI image layout written by hand (no download).
make_oci_layout() {
  local d=$1 diffid lsha lsize csha csize msha msize
  mkdir -p "$d/rootfs" "$d/blobs/sha256"
  echo hello >"$d/rootfs/hello.txt"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$d/rootfs" -cf "$d/layer.tar" .
  gzip -n -9 -c "$d/layer.tar" >"$d/layer.tar.gz"
  diffid=$(sha256sum "$d/layer.tar" | cut -d' ' -f1)
  lsha=$(sha256sum "$d/layer.tar.gz" | cut -d' ' -f1); lsize=$(stat -c%s "$d/layer.tar.gz")
  mv "$d/layer.tar.gz" "$d/blobs/sha256/$lsha"
  printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/hello.txt"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diffid" >"$d/config.json"
  csha=$(sha256sum "$d/config.json" | cut -d' ' -f1); csize=$(stat -c%s "$d/config.json")
  mv "$d/config.json" "$d/blobs/sha256/$csha"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}]}' "$csha" "$csize" "$lsha" "$lsize" >"$d/manifest.json"
  msha=$(sha256sum "$d/manifest.json" | cut -d' ' -f1); msize=$(stat -c%s "$d/manifest.json")
  mv "$d/manifest.json" "$d/blobs/sha256/$msha"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"1.0"}}]}' "$msha" "$msize" >"$d/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$d/oci-layout"
  rm -rf "$d/rootfs" "$d/layer.tar"
}

# --- crictl ------------------------------------------------------------------------

crictl_pull_inspect() { # crictl_pull_inspect NAME HOST
  local name=$1 host=$2 ref="$2/library/hello:1.0" out="$LAB/$1/inspecti-$2.json"
  local c=(crictl --config "$LAB/$name/crictl.yaml" --runtime-endpoint "unix://$SOCK" --image-endpoint "unix://$SOCK" --timeout 30s)
  if "${c[@]}" pull "$ref" >"$LAB/$name/pull.txt" 2>&1; then
    ok "$name: crictl pull $ref ($(cat "$LAB/$name/pull.txt"))"
  else
    ko "$name: crictl pull $ref"; cat "$LAB/$name/pull.txt"; tail -5 "$LAB/$name/containerd.log"; return
  fi
  if "${c[@]}" inspecti -o json "$ref" >"$out" 2>&1 &&
    jq -e --arg d "$host/library/hello@$IMG_DIGEST" '.status.repoDigests | index($d) != null' "$out" >/dev/null; then
    ok "$name: crictl inspecti -o json shows repoDigest $host/library/hello@$IMG_DIGEST"
  else
    ko "$name: crictl inspecti $ref"; head -c 2000 "$out"
  fi
}

crictl_against() { # crictl_against NAME CONTAINERD-BIN CONFIG-VERSION
  local name=$1
  start_containerd "$name" "$2" "$3" "$REG" || { ko "$name did not start"; return; }
  printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 30\n' "$SOCK" "$SOCK" >"$LAB/$name/crictl.yaml"
  crictl_pull_inspect "$name" "$REG"
  # upstream.test does not resolve: this pull can only succeed via hosts.toml,
  # and the registry sees ?ns=upstream.test:<port> (containerd's mirror logic).
  local before after
  before=$(grep -c 'ns=upstream.test' "$LAB/registry/registry.log" || true)
  crictl_pull_inspect "$name" "upstream.test:${REG##*:}"
  after=$(grep -c 'ns=upstream.test' "$LAB/registry/registry.log" || true)
  if [ "$after" -gt "$before" ]; then ok "$name: registry saw ?ns=upstream.test requests (hosts.toml mirror)"; else ko "$name: no ?ns=upstream.test request in registry log"; fi
}

step_crictl() {
  need crictl containerd2 /usr/bin/containerd jq
  log "$(crictl --version)"
  start_registry
  crictl_against c16 /usr/bin/containerd 2
  crictl_against c2 containerd2 3
}

# --- pulumi -----------------------------------------------------------------------

# pulumi_program DIR INDEX-JS: stack init / up / output stdout == hi / destroy / rm
pulumi_program() {
  local d=$1
  mkdir -p "$d/prog" "$d/state"
  ln -s "$ROOT/node_modules" "$d/prog/node_modules"
  printf 'name: tools-smoke\nruntime: nodejs\n' >"$d/prog/Pulumi.yaml"
  printf '{ "name": "tools-smoke", "main": "index.js" }\n' >"$d/prog/package.json"
  printf '%s\n' "$2" >"$d/prog/index.js"
  (
    cd "$d/prog"
    # Everything Pulumi needs offline (see scripts/tools/README.md):
    export PULUMI_HOME="$ROOT/.tools/pulumi-home" PULUMI_BACKEND_URL="file://$d/state" PULUMI_CONFIG_PASSPHRASE=x \
      PULUMI_SKIP_UPDATE_CHECK=1 PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
    pulumi stack init dev --non-interactive >"$d/init.log" 2>&1 || { cat "$d/init.log"; exit 1; }
    pulumi up --yes --skip-preview --non-interactive >"$d/up.log" 2>&1 || { cat "$d/up.log"; exit 1; }
    if grep -q 'from \$PATH' "$d/up.log"; then echo "a plugin came from PATH, not the plugin cache:"; cat "$d/up.log"; exit 1; fi
    [ "$(pulumi stack output stdout)" = hi ] || { echo "stack output stdout != hi"; cat "$d/up.log"; exit 1; }
    pulumi destroy --yes --non-interactive >"$d/destroy.log" 2>&1 || { cat "$d/destroy.log"; exit 1; }
    pulumi stack rm --yes --non-interactive dev >"$d/rm.log" 2>&1 || { cat "$d/rm.log"; exit 1; }
  )
}

step_pulumi() {
  need pulumi pulumi-language-nodejs pulumi-resource-pulumi-nodejs node
  [ -d "$ROOT/node_modules/@pulumi/pulumi" ] || { ko "run npm ci first: node_modules/@pulumi/pulumi missing"; return; }
  log "pulumi $(PULUMI_SKIP_UPDATE_CHECK=1 pulumi version)"
  # 1. engine + nodejs language host + nodejs dynamic provider, no external plugin.
  if pulumi_program "$LAB/pulumi-dynamic" '
const pulumi = require("@pulumi/pulumi");
const cp = require("child_process");
const provider = {
  async create(inputs) { return { id: "hi", outs: { stdout: cp.execSync(inputs.cmd).toString().trim() } }; },
  async delete() {},
};
class Echo extends pulumi.dynamic.Resource {
  constructor(name, args, opts) { super(provider, name, { cmd: args.cmd, stdout: undefined }, opts); }
}
exports.stdout = new Echo("hi", { cmd: "echo hi" }).stdout;'; then
    ok "pulumi stack init/up/destroy with a dynamic resource (stdout=hi), offline"
  else
    ko "pulumi up/destroy with a dynamic resource"
  fi
  # 2. @pulumi/command's local.Command through pulumi-resource-command from the plugin cache.
  if [ ! -x "$ROOT/.tools/pulumi-home/plugins/resource-command-v1.2.1/pulumi-resource-command" ]; then
    ko "pulumi-resource-command 1.2.1 is not in the plugin cache .tools/pulumi-home (run scripts/tools.sh command)"
    return
  fi
  [ -d "$ROOT/node_modules/@pulumi/command" ] || { ko "run npm ci first: node_modules/@pulumi/command missing"; return; }
  if pulumi_program "$LAB/pulumi-command" '
const command = require("@pulumi/command");
exports.stdout = new command.local.Command("hi", { create: "echo hi" }).stdout;'; then
    ok "pulumi stack init/up/destroy with command.local.Command (stdout=hi), offline"
  else
    ko "pulumi up/destroy with command.local.Command"
  fi
}

for s in "${steps[@]}"; do
  case "$s" in
  containerd2) step_containerd2 ;;
  crictl) step_crictl ;;
  pulumi) step_pulumi ;;
  *) echo "unknown step $s (containerd2|crictl|pulumi)" >&2; exit 2 ;;
  esac
done

echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
