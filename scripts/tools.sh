#!/usr/bin/env bash
# Reproducible, pinned build of the Go tools this project tests against, into
# the git-ignored .tools/bin/. See scripts/tools/README.md.
#
#   scripts/tools.sh                      build whatever is missing or stale (all tools)
#   scripts/tools.sh containerd2 crictl   build a subset (tools: containerd2 crictl crio pulumi command kubernetes
#                                         kubernetes-provider language-go language-yaml)
#   scripts/tools.sh --print-env          print `export ...` lines (eval "$(scripts/tools.sh --print-env)")
#   scripts/tools.sh --check [TOOL...]    build nothing; exit 1 if a tool is missing or stale
#   scripts/tools.sh --force [TOOL...]    rebuild even if the stamp matches
#   scripts/tools.sh --list               print the pinned versions
#
# Pins live in the wrapper modules scripts/tools/<name>/go.mod (+ go.sum): the
# version of each tool is read from there, so bumping a tool means bumping its
# go.mod (see README). Builds use -mod=readonly against the committed go.sum,
# GOTOOLCHAIN=local and the default Go build cache (re-runs are incremental).
# A stamp per tool in .tools/stamps/ records what was built; a tool is rebuilt
# only when its stamp (version, go.mod/go.sum hash, Go version, flags) changes
# or a binary is missing.
#
# Progress goes to stderr; stdout only carries --print-env / --list output.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODS="$ROOT/scripts/tools"
TOOLS_DIR="$ROOT/.tools"
BIN="$TOOLS_DIR/bin"
STAMPS="$TOOLS_DIR/stamps"
# The PULUMI_HOME of the tests, the demo and the benchmark: its plugin cache holds pulumi-resource-command.
PULUMI_HOME_DIR="$TOOLS_DIR/pulumi-home"
ALL_TOOLS=(containerd2 crictl crio pulumi command language-go language-yaml kubernetes kubernetes-provider) # plugins and hosts are installed with the CLI: after pulumi
GO_MIN=1.25.11 # highest `go` line of the wrapper modules (pulumi pkg/v3 needs 1.25.11)

say() { printf '[tools] %s\n' "$*" >&2; }
die() { printf '[tools] ERROR: %s\n' "$*" >&2; exit 1; }

# --- pins (read from the wrapper modules) ----------------------------------------

modver() { # modver WRAPPER MODULE -> version required by scripts/tools/WRAPPER/go.mod
  local v
  v=$(awk -v m="$2" '!/=>/ && ($1 == m || ($1 == "require" && $2 == m)) { print ($1 == "require" ? $3 : $2); exit }' "$MODS/$1/go.mod")
  [ -n "$v" ] || die "scripts/tools/$1/go.mod does not require $2"
  echo "$v"
}

CONTAINERD_VERSION=$(modver containerd github.com/containerd/containerd/v2)
CRICTL_VERSION=$(modver crictl sigs.k8s.io/cri-tools)
PULUMI_VERSION=$(modver pulumi github.com/pulumi/pulumi/pkg/v3)
PULUMI_SDK_VERSION=$(modver pulumi github.com/pulumi/pulumi/sdk/v3)
PULUMI_NODEJS_HOST_VERSION=$(modver pulumi-language-nodejs github.com/pulumi/pulumi/sdk/v3)
PULUMI_COMMAND_VERSION=1.2.1 # = npm @pulumi/command in package.json
PULUMI_GO_HOST_VERSION=$(modver pulumi-language-go github.com/pulumi/pulumi/sdk/v3)
PULUMI_YAML_VERSION=$(modver pulumi-language-yaml github.com/pulumi/pulumi-yaml)

# --- helpers -----------------------------------------------------------------------

version_ge() { # version_ge A B: A >= B (dotted numbers)
  [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" = "$2" ]
}

GO=""
require_go() {
  [ -n "$GO" ] && return 0
  if ! command -v go >/dev/null 2>&1; then
    if [ -x /usr/local/go/bin/go ]; then
      export PATH="/usr/local/go/bin:$PATH"
    else
      die "go not found; install Go >= $GO_MIN from https://go.dev/dl (or put it on PATH)"
    fi
  fi
  local v
  v=$(GOTOOLCHAIN=local go env GOVERSION 2>/dev/null) || die "'go env GOVERSION' failed ($(command -v go))"
  v=${v#go}
  version_ge "$v" "$GO_MIN" || die "go $v at $(command -v go) is too old; install Go >= $GO_MIN from https://go.dev/dl"
  GO="go$v"
}

hash_files() { cat "$@" | sha256sum | cut -c1-16; }

stamp_ok() { # stamp_ok NAME KEY OUTPUT...
  local name=$1 key=$2 f
  shift 2
  [ -f "$STAMPS/$name" ] && [ "$(cat "$STAMPS/$name")" = "$key" ] || return 1
  for f in "$@"; do [ -x "$BIN/$f" ] || return 1; done
}

write_stamp() { mkdir -p "$STAMPS"; printf '%s\n' "$2" >"$STAMPS/$1"; }

# gobuild WRAPPER OUT PKG [go build flags...]: build in the wrapper module, install atomically
gobuild() {
  local mod=$1 out=$2 pkg=$3
  shift 3
  gobuild_dir "$MODS/$mod" "$BIN/$out" "$pkg" "$@" || die "building $out ($pkg) failed; see the go output above"
}
# gobuild_dir DIR OUTPUT PKG [go build flags...]: build in the module at DIR (read-only go.mod/go.sum), install atomically
gobuild_dir() {
  local dir=$1 out=$2 pkg=$3 tmp
  shift 3
  tmp="$(dirname "$out")/.$(basename "$out").tmp"
  mkdir -p "$(dirname "$out")"
  (
    cd "$dir"
    GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -mod=readonly" go build -trimpath -o "$tmp" "$@" "$pkg"
  ) || { rm -f "$tmp"; return 1; }
  mv -f "$tmp" "$out"
}

# tool_build NAME LABEL KEY BUILD_FN OUTPUT...: build NAME with BUILD_FN unless its stamp matches KEY and every output
# exists (LABEL names it in messages); with --check, only say whether it would be built.
tool_build() {
  local name=$1 label=$2 key=$3 build=$4 f outs=""
  shift 4
  for f in "$@"; do outs="$outs${outs:+, }$BIN/$f"; done
  if stamp_ok "$name" "$key" "$@" && [ -z "$FORCE" ]; then
    say "$label: up to date ($outs)"
    return
  fi
  [ -n "$CHECK" ] && { say "$label: missing or stale"; STALE=1; return; }
  say "building $label ..."
  timed "$label" "$build"
  write_stamp "$name" "$key"
}

timed() { # timed LABEL CMD...: run and report the wall time
  local label=$1 t0 t1
  shift
  t0=$(date +%s)
  "$@"
  t1=$(date +%s)
  say "built $label in $((t1 - t0))s"
}

# --- containerd2 (+ ctr2) ---------------------------------------------------------

CONTAINERD_TAGS="urfave_cli_no_docs no_btrfs"
containerd_key() {
  echo "containerd2 $CONTAINERD_VERSION $(hash_files "$MODS/containerd/go.mod" "$MODS/containerd/go.sum") $GO cgo=0 tags=$CONTAINERD_TAGS"
}
build_containerd2() {
  local pkg=github.com/containerd/containerd/v2 ld
  ld="-X $pkg/version.Version=$CONTAINERD_VERSION -X $pkg/version.Package=$pkg"
  # CGO off: the only cgo-only piece is the btrfs snapshotter (needs libbtrfs
  # headers); no_btrfs drops it. Runtimes (runc, shims) are not built: pulls only.
  CGO_ENABLED=0 gobuild containerd containerd2 $pkg/cmd/containerd -tags "$CONTAINERD_TAGS" -ldflags "$ld"
  CGO_ENABLED=0 gobuild containerd ctr2 $pkg/cmd/ctr -tags "$CONTAINERD_TAGS" -ldflags "$ld"
}
tool_containerd2() {
  require_go
  tool_build containerd2 "containerd2 + ctr2 $CONTAINERD_VERSION" "$(containerd_key)" build_containerd2 containerd2 ctr2
}

# --- crictl ------------------------------------------------------------------------

crictl_key() {
  echo "crictl $CRICTL_VERSION $(hash_files "$MODS/crictl/go.mod" "$MODS/crictl/go.sum") $GO cgo=0"
}
build_crictl() {
  # cri-tools' Makefile: CGO_ENABLED=0, -X .../pkg/version.Version=<tag without v>
  CGO_ENABLED=0 gobuild crictl crictl sigs.k8s.io/cri-tools/cmd/crictl \
    -ldflags "-X sigs.k8s.io/cri-tools/pkg/version.Version=${CRICTL_VERSION#v}"
}
tool_crictl() {
  require_go
  tool_build crictl "crictl $CRICTL_VERSION" "$(crictl_key)" build_crictl crictl
}

# --- kubernetes: kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kubectl -----------------

# The lab cluster (test/lab/cluster.ts). From module k8s.io/kubernetes (its go.mod needs Go 1.26.0), with the
# version ldflags of its hack/lib/version.sh: without them every binary and the Node say v0.0.0-master+$Format:%H$.
# The commit is unknown (the proxy serves a zip, not git), the tree state is "archive" (what version.sh says for a
# source archive) and the build date is the module's publication time on the proxy, so a rebuild gives the same bytes.
KUBERNETES_VERSION=$(modver kubernetes k8s.io/kubernetes)
KUBERNETES_BINS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)
KUBERNETES_GO_MIN=1.26.0
kubernetes_key() {
  echo "kubernetes $KUBERNETES_VERSION $(hash_files "$MODS/kubernetes/go.mod" "$MODS/kubernetes/go.sum") $GO cgo=0 ld=s,w,version"
}
kubernetes_ldflags() {
  local v=$KUBERNETES_VERSION major minor date pkg ld="-s -w"
  major=${v#v}; major=${major%%.*}
  minor=${v#v"$major".}; minor=${minor%%.*}
  date=$(cd "$MODS/kubernetes" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes) ||
    die "go list -m k8s.io/kubernetes failed"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=archive -X $pkg.buildDate=$date"
  done
  echo "$ld"
}
build_kubernetes() {
  local ld b
  ld=$(kubernetes_ldflags)
  for b in "${KUBERNETES_BINS[@]}"; do
    say "  $b ..."
    CGO_ENABLED=0 gobuild kubernetes "$b" "k8s.io/kubernetes/cmd/$b" -ldflags "$ld"
  done
}
tool_kubernetes() {
  require_go
  version_ge "${GO#go}" "$KUBERNETES_GO_MIN" || die "k8s.io/kubernetes $KUBERNETES_VERSION needs Go >= $KUBERNETES_GO_MIN (have ${GO#go})"
  # About 9 min on 2 cores with a cold cache (kube-apiserver alone ~6 min), 2.8 GB of RAM.
  tool_build kubernetes "kubernetes $KUBERNETES_VERSION (${KUBERNETES_BINS[*]})" "$(kubernetes_key)" build_kubernetes "${KUBERNETES_BINS[@]}"
}

# --- upstream sources (release trees the module proxy does not serve) ---------------------

# The unmodified release sources of the Node.js language host and of pulumi-resource-command (with
# pulumi-go-provider) live outside the repository, in shared/upstream beside it (see its README). They are
# never edited: every build works on a temporary copy.
find_upstream() { # find_upstream FOLDER -> the upstream directory that holds FOLDER
  local d
  for d in "${REGMIRROR_UPSTREAM:-}" "$ROOT/../shared/upstream" /work/shared/upstream; do
    [ -n "$d" ] && [ -d "$d/$1" ] && { (cd "$d" && pwd); return 0; }
  done
  return 1
}
upstream_missing() { # upstream_missing FOLDER WHAT INSTEAD
  cat >&2 <<EOF
[tools] ERROR: cannot build $2: its release source $1/ was not found
[tools]   (looked in \$REGMIRROR_UPSTREAM, $ROOT/../shared/upstream and /work/shared/upstream).
[tools]   This machine's Go module proxy does not serve it. With internet access, instead:
[tools]     $3
EOF
  exit 1
}
tree_hash() { # content hash of a source tree (names and bytes), the same for every copy
  (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}
copy_upstream() { # copy_upstream FOLDER...: a fresh writable temporary copy of the folders; prints its path
  # Always the same path (builds are serialised by the lock), so the replace path that Go records in the binary's
  # build info is too, and a rebuild gives the same bytes.
  local tmp="$TOOLS_DIR/upstream-build" src f
  rm -rf "$tmp" && mkdir -p "$tmp"
  for f in "$@"; do
    src=$(find_upstream "$f") || { rm -rf "$tmp"; return 1; }
    cp -r "$src/$f" "$tmp/$f"
    chmod -R u+w "$tmp/$f"
  done
  echo "$tmp"
}

# --- CRI-O (crio + pinns) from its release source ----------------------------------------

CRIO_VERSION=1.36.3
CRIO_SRC=cri-o-v$CRIO_VERSION
CRIO_TAGS="containers_image_openpgp exclude_graphdriver_btrfs exclude_graphdriver_devicemapper"

crio_key() {
  local src
  src=$(find_upstream "$CRIO_SRC") || { echo "crio $CRIO_VERSION no-source"; return; }
  echo "crio $CRIO_VERSION $(tree_hash "$src/$CRIO_SRC") $GO cgo=1 tags=$CRIO_TAGS"
}
build_crio() {
  local tmp
  tmp=$(copy_upstream "$CRIO_SRC") || upstream_missing "$CRIO_SRC" "crio $CRIO_VERSION" "install CRI-O $CRIO_VERSION from its release archive and put crio and pinns in $BIN"
  # CRI-O's Makefile, without git: its vendored modules, cgo for sqlite, the version stamped as its Makefile does.
  (
    cd "$tmp/$CRIO_SRC"
    CGO_ENABLED=1 GOTOOLCHAIN=local go build -mod=vendor -trimpath -tags "$CRIO_TAGS" \
      -ldflags "-X github.com/cri-o/cri-o/internal/version.Version=$CRIO_VERSION" -o "$BIN/.crio.tmp" ./cmd/crio &&
      make -s -C pinns >&2 && cp bin/pinns "$BIN/.pinns.tmp"
  ) || { rm -rf "$tmp" "$BIN/.crio.tmp" "$BIN/.pinns.tmp"; die "building crio $CRIO_VERSION failed; see the output above"; }
  mv -f "$BIN/.crio.tmp" "$BIN/crio" && mv -f "$BIN/.pinns.tmp" "$BIN/pinns"
  rm -rf "$tmp"
}
tool_crio() {
  require_go
  # About 1.5 min on 2 cores the first time.
  tool_build crio "crio $CRIO_VERSION + pinns (from $CRIO_SRC)" "$(crio_key)" build_crio crio pinns
}

# --- pulumi (CLI + Node.js language host + dynamic-provider shim) -------------------------

PULUMI_HOST_SRC=pulumi-language-nodejs-$PULUMI_NODEJS_HOST_VERSION
pulumi_key() {
  local src
  src=$(find_upstream "$PULUMI_HOST_SRC") && src=$(tree_hash "$src/$PULUMI_HOST_SRC") || src=none
  echo "pulumi $PULUMI_VERSION sdk $PULUMI_SDK_VERSION host $PULUMI_NODEJS_HOST_VERSION $(hash_files "$MODS/pulumi/go.mod" "$MODS/pulumi/go.sum" "$MODS/pulumi-language-nodejs/go.mod" "$MODS/pulumi-language-nodejs/go.sum") host-src=$src $GO cgo=0"
}
build_pulumi_cli() {
  CGO_ENABLED=0 gobuild pulumi pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION"
}
build_pulumi_host() {
  # The host's go.mod points pkg/v3 and sdk/v3 at monorepo folders that are not part of the release tree; the
  # pinned go.mod/go.sum in scripts/tools/pulumi-language-nodejs point them at the published modules of the same
  # version (upstream's recipe followed by `go mod tidy`, done once and committed), so the build is -mod=readonly.
  local tmp shim
  tmp=$(copy_upstream "$PULUMI_HOST_SRC") || die "copying $PULUMI_HOST_SRC failed"
  cp "$MODS/pulumi-language-nodejs/go.mod" "$MODS/pulumi-language-nodejs/go.sum" "$tmp/$PULUMI_HOST_SRC/"
  CGO_ENABLED=0 gobuild_dir "$tmp/$PULUMI_HOST_SRC" "$BIN/pulumi-language-nodejs" . \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_NODEJS_HOST_VERSION" ||
    { rm -rf "$tmp"; die "building pulumi-language-nodejs failed; see the go output above"; }
  rm -rf "$tmp"
  # The release archives ship this 5-line shim next to the CLI (dynamic providers).
  shim=$(cd "$MODS/pulumi" && GOTOOLCHAIN=local go list -mod=readonly -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)/nodejs/dist/pulumi-resource-pulumi-nodejs
  if [ ! -f "$shim" ]; then
    (cd "$MODS/pulumi" && GOTOOLCHAIN=local go mod download github.com/pulumi/pulumi/sdk/v3)
  fi
  install -m 0755 "$shim" "$BIN/pulumi-resource-pulumi-nodejs"
}
pulumi_on_path() { # a release install of the pinned version on PATH (outside .tools/bin) with its language host
  local p v
  p=$(PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$BIN" | paste -sd: -) command -v pulumi 2>/dev/null) || return 1
  v=$(PULUMI_SKIP_UPDATE_CHECK=1 "$p" version 2>/dev/null) || return 1
  [ "$v" = "$PULUMI_VERSION" ] || { say "ignoring $p ($v): pinned $PULUMI_VERSION"; return 1; }
  [ -x "$(dirname "$p")/pulumi-language-nodejs" ] || { say "ignoring $p: no pulumi-language-nodejs beside it"; return 1; }
  echo "$p"
}
tool_pulumi() {
  local key p x
  if p=$(pulumi_on_path); then
    # A user's release install: linked where the tests and the demo look, not rebuilt.
    if [ -z "$CHECK" ]; then
      for x in pulumi pulumi-language-nodejs pulumi-resource-pulumi-nodejs; do
        if [ -x "$(dirname "$p")/$x" ]; then ln -sfn "$(dirname "$p")/$x" "$BIN/$x"; fi
      done
    fi
    say "pulumi $PULUMI_VERSION already installed: $p (linked into $BIN, not building)"
    return
  fi
  require_go
  key=$(pulumi_key)
  if stamp_ok pulumi "$key" pulumi pulumi-language-nodejs pulumi-resource-pulumi-nodejs && [ -z "$FORCE" ]; then
    say "pulumi $PULUMI_VERSION + pulumi-language-nodejs $PULUMI_NODEJS_HOST_VERSION: up to date ($BIN/pulumi)"
  elif [ -n "$CHECK" ]; then
    say "pulumi $PULUMI_VERSION / pulumi-language-nodejs $PULUMI_NODEJS_HOST_VERSION: missing or stale"; STALE=1
  else
    find_upstream "$PULUMI_HOST_SRC" >/dev/null || upstream_missing "$PULUMI_HOST_SRC" "pulumi-language-nodejs $PULUMI_NODEJS_HOST_VERSION" \
      "install Pulumi $PULUMI_VERSION from a release archive (https://www.pulumi.com/docs/install/); its CLI and language host are used as they are"
    say "building pulumi $PULUMI_VERSION (slow: ~5 min on 2 cores with a cold cache) ..."
    timed "pulumi $PULUMI_VERSION" build_pulumi_cli
    say "building pulumi-language-nodejs $PULUMI_NODEJS_HOST_VERSION from a temporary copy of $(find_upstream "$PULUMI_HOST_SRC")/$PULUMI_HOST_SRC ..."
    timed "pulumi-language-nodejs $PULUMI_NODEJS_HOST_VERSION" build_pulumi_host
    write_stamp pulumi "$key"
  fi
}

# --- command: pulumi-resource-command, installed into the Pulumi plugin cache -------------------

# Built from the release source of pulumi-command (with pulumi-go-provider v1.3.0; the proxy serves neither), then
# installed the way a user's machine has it: `pulumi plugin install resource command 1.2.1 --file …` into the plugin
# cache of PULUMI_HOME_DIR. Never on PATH: an ambient plugin wins over the cache and makes the CLI warn
# "using pulumi-resource-command from $PATH".
COMMAND_SRC=pulumi-command-v$PULUMI_COMMAND_VERSION
GO_PROVIDER_SRC=pulumi-go-provider-v1.3.0
PLUGIN_BIN="$TOOLS_DIR/plugins/pulumi-resource-command"
PLUGIN_DIR="$PULUMI_HOME_DIR/plugins/resource-command-v$PULUMI_COMMAND_VERSION"

command_key() {
  local a b
  a=$(find_upstream "$COMMAND_SRC") && a=$(tree_hash "$a/$COMMAND_SRC") || a=none
  b=$(find_upstream "$GO_PROVIDER_SRC") && b=$(tree_hash "$b/$GO_PROVIDER_SRC") || b=none
  echo "command $PULUMI_COMMAND_VERSION src=$a go-provider=$b $GO cgo=0"
}
build_command() {
  local tmp
  tmp=$(copy_upstream "$COMMAND_SRC" "$GO_PROVIDER_SRC") || die "copying the upstream sources failed"
  (cd "$tmp/$COMMAND_SRC/provider" && GOTOOLCHAIN=local go mod edit -replace "github.com/pulumi/pulumi-go-provider=$tmp/$GO_PROVIDER_SRC") &&
    CGO_ENABLED=0 gobuild_dir "$tmp/$COMMAND_SRC/provider" "$PLUGIN_BIN" ./cmd/pulumi-resource-command \
      -ldflags "-X github.com/pulumi/pulumi-command/provider/pkg/version.Version=$PULUMI_COMMAND_VERSION" ||
    { rm -rf "$tmp"; die "building pulumi-resource-command failed; see the go output above"; }
  rm -rf "$tmp"
}
user_command_plugin() { # a real plugin the user already has in their own plugin cache
  local home p
  for home in "${PULUMI_HOME:-}" "$HOME/.pulumi"; do
    [ -n "$home" ] && [ "$home" != "$PULUMI_HOME_DIR" ] || continue
    p="$home/plugins/resource-command-v$PULUMI_COMMAND_VERSION/pulumi-resource-command"
    if [ -x "$p" ]; then echo "$p"; return 0; fi
  done
  return 1
}
plugin_installed() { # the plugin cache holds exactly our binary
  [ -x "$PLUGIN_DIR/pulumi-resource-command" ] && [ -f "$PLUGIN_BIN" ] && cmp -s "$PLUGIN_DIR/pulumi-resource-command" "$PLUGIN_BIN"
}
tool_command() {
  local key user
  if user=$(user_command_plugin); then
    say "pulumi-resource-command $PULUMI_COMMAND_VERSION: using your plugin $user (not building)"
    if [ -z "$CHECK" ] && ! cmp -s "$user" "$PLUGIN_BIN" 2>/dev/null; then
      mkdir -p "$(dirname "$PLUGIN_BIN")"
      install -m 0755 "$user" "$PLUGIN_BIN"
    fi
  else
    require_go
    key=$(command_key)
    if stamp_ok command "$key" && [ -x "$PLUGIN_BIN" ] && [ -z "$FORCE" ]; then
      say "pulumi-resource-command $PULUMI_COMMAND_VERSION: up to date ($PLUGIN_BIN)"
    elif [ -n "$CHECK" ]; then
      say "pulumi-resource-command $PULUMI_COMMAND_VERSION: missing or stale"; STALE=1; return
    else
      { find_upstream "$COMMAND_SRC" && find_upstream "$GO_PROVIDER_SRC"; } >/dev/null ||
        upstream_missing "$COMMAND_SRC and $GO_PROVIDER_SRC" "pulumi-resource-command $PULUMI_COMMAND_VERSION" \
          "pulumi plugin install resource command $PULUMI_COMMAND_VERSION   (into ~/.pulumi; this script then uses that plugin)"
      say "building pulumi-resource-command $PULUMI_COMMAND_VERSION from a temporary copy of $(find_upstream "$COMMAND_SRC")/$COMMAND_SRC (~2 min with a cold cache) ..."
      timed "pulumi-resource-command $PULUMI_COMMAND_VERSION" build_command
      write_stamp command "$key"
    fi
  fi
  if [ -n "$CHECK" ]; then
    plugin_installed || { say "pulumi-resource-command: not in the plugin cache $PLUGIN_DIR"; STALE=1; }
    return
  fi
  if plugin_installed; then
    say "pulumi-resource-command $PULUMI_COMMAND_VERSION: in the plugin cache ($PLUGIN_DIR)"
    return
  fi
  [ -x "$BIN/pulumi" ] || die "installing the plugin needs the pulumi CLI: run scripts/tools.sh pulumi first"
  # --reinstall: a cache entry holding another binary (an older build) is replaced, not kept.
  PULUMI_HOME="$PULUMI_HOME_DIR" PULUMI_SKIP_UPDATE_CHECK=1 "$BIN/pulumi" plugin install resource command "$PULUMI_COMMAND_VERSION" \
    --file "$PLUGIN_BIN" --reinstall --non-interactive >&2 || die "pulumi plugin install resource command $PULUMI_COMMAND_VERSION --file $PLUGIN_BIN failed"
  say "pulumi-resource-command $PULUMI_COMMAND_VERSION: installed into the plugin cache ($PLUGIN_DIR)"
}

# --- kubernetes-provider: pulumi-resource-kubernetes, installed into the Pulumi plugin cache -----------------

# v4.25.0 (= npm @pulumi/kubernetes 4.25.0) from the proxy's only pseudo-version of the provider module, which is the
# commit of tag v4.25.0. The module zip lacks the two *-embed.json files that main.go embeds: they are made by its
# generate.go (`VERSION=4.25.0 go run generate.go`, as its Makefile does) in a temporary copy of
# cmd/pulumi-resource-kubernetes laid over the wrapper's go.mod/go.sum. Installed like the command plugin: into the
# plugin cache of PULUMI_HOME_DIR, never on PATH.
KUBERNETES_PROVIDER_MODULE=github.com/pulumi/pulumi-kubernetes/provider/v4
KUBERNETES_PROVIDER_PSEUDO=$(modver kubernetes-provider $KUBERNETES_PROVIDER_MODULE)
KUBERNETES_PROVIDER_VERSION=4.25.0 # the tag of that commit; = npm @pulumi/kubernetes
KPROVIDER_BIN="$TOOLS_DIR/plugins/pulumi-resource-kubernetes"
KPROVIDER_DIR="$PULUMI_HOME_DIR/plugins/resource-kubernetes-v$KUBERNETES_PROVIDER_VERSION"

kubernetes_provider_key() {
  echo "kubernetes-provider $KUBERNETES_PROVIDER_VERSION $KUBERNETES_PROVIDER_PSEUDO $(hash_files "$MODS/kubernetes-provider/go.mod" "$MODS/kubernetes-provider/go.sum") $GO cgo=0 ld=s,w,version"
}
build_kubernetes_provider() {
  # Always the same path (builds are serialised by the lock), so a rebuild gives the same bytes.
  local tmp="$TOOLS_DIR/kubernetes-provider-build" src f
  src=$(cd "$MODS/kubernetes-provider" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly go mod download -json "$KUBERNETES_PROVIDER_MODULE" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') && [ -d "$src/cmd/pulumi-resource-kubernetes" ] ||
    die "go mod download $KUBERNETES_PROVIDER_MODULE@$KUBERNETES_PROVIDER_PSEUDO failed"
  rm -rf "$tmp" && mkdir -p "$tmp"
  for f in main.go generate.go schema.json terraform-mapping.json; do
    cp "$src/cmd/pulumi-resource-kubernetes/$f" "$tmp/$f"
  done
  cp "$MODS/kubernetes-provider/go.mod" "$MODS/kubernetes-provider/go.sum" "$tmp/"
  chmod -R u+w "$tmp"
  say "  generating schema-embed.json and terraform-mapping-embed.json (go run generate.go) ..."
  (cd "$tmp" && VERSION=$KUBERNETES_PROVIDER_VERSION CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -mod=readonly" go run generate.go) ||
    { rm -rf "$tmp"; die "generate.go of pulumi-resource-kubernetes failed; see the go output above"; }
  say "  building pulumi-resource-kubernetes (slow: ~12-15 min on 2 cores with a cold cache, 4.5 GB of RAM) ..."
  CGO_ENABLED=0 gobuild_dir "$tmp" "$KPROVIDER_BIN" . \
    -ldflags "-s -w -X $KUBERNETES_PROVIDER_MODULE/pkg/version.Version=$KUBERNETES_PROVIDER_VERSION" ||
    { rm -rf "$tmp"; die "building pulumi-resource-kubernetes failed; see the go output above"; }
  rm -rf "$tmp"
}
kprovider_installed() { # the plugin cache holds exactly our binary
  [ -x "$KPROVIDER_DIR/pulumi-resource-kubernetes" ] && [ -f "$KPROVIDER_BIN" ] && cmp -s "$KPROVIDER_DIR/pulumi-resource-kubernetes" "$KPROVIDER_BIN"
}
tool_kubernetes_provider() {
  local key
  require_go
  key=$(kubernetes_provider_key)
  if stamp_ok kubernetes-provider "$key" && [ -x "$KPROVIDER_BIN" ] && [ -z "$FORCE" ]; then
    say "pulumi-resource-kubernetes $KUBERNETES_PROVIDER_VERSION: up to date ($KPROVIDER_BIN)"
  elif [ -n "$CHECK" ]; then
    say "pulumi-resource-kubernetes $KUBERNETES_PROVIDER_VERSION: missing or stale"; STALE=1; return
  else
    say "building pulumi-resource-kubernetes $KUBERNETES_PROVIDER_VERSION ($KUBERNETES_PROVIDER_MODULE@$KUBERNETES_PROVIDER_PSEUDO) ..."
    timed "pulumi-resource-kubernetes $KUBERNETES_PROVIDER_VERSION" build_kubernetes_provider
    write_stamp kubernetes-provider "$key"
  fi
  if [ -n "$CHECK" ]; then
    kprovider_installed || { say "pulumi-resource-kubernetes: not in the plugin cache $KPROVIDER_DIR"; STALE=1; }
    return
  fi
  if kprovider_installed; then
    say "pulumi-resource-kubernetes $KUBERNETES_PROVIDER_VERSION: in the plugin cache ($KPROVIDER_DIR)"
    return
  fi
  [ -x "$BIN/pulumi" ] || die "installing the plugin needs the pulumi CLI: run scripts/tools.sh pulumi first"
  PULUMI_HOME="$PULUMI_HOME_DIR" PULUMI_SKIP_UPDATE_CHECK=1 "$BIN/pulumi" plugin install resource kubernetes "$KUBERNETES_PROVIDER_VERSION" \
    --file "$KPROVIDER_BIN" --reinstall --non-interactive >&2 ||
    die "pulumi plugin install resource kubernetes $KUBERNETES_PROVIDER_VERSION --file $KPROVIDER_BIN failed"
  say "pulumi-resource-kubernetes $KUBERNETES_PROVIDER_VERSION: installed into the plugin cache ($KPROVIDER_DIR)"
}

# --- language-go, language-yaml: the language hosts of Go and YAML programs, beside the CLI ---------------------------

# Pulumi release archives ship both next to the `pulumi` binary, and the CLI treats them as bundled: `pulumi plugin
# install language go|yaml` refuses ("the go language plugin is bundled with Pulumi, and cannot be directly
# installed"), and the engine looks for them beside the CLI and on PATH. So they go where a release install has
# them: .tools/bin, beside .tools/bin/pulumi. A release install of the pinned version on PATH is linked instead.
# Tests and examples use them to run Go and YAML programs that consume the component package (pulumi-package/).
link_release_host() { # link_release_host NAME: link NAME from a release install of the pinned pulumi on PATH
  local p
  p=$(pulumi_on_path 2>/dev/null) && [ -x "$(dirname "$p")/$1" ] || return 1
  [ -n "$CHECK" ] || ln -sfn "$(dirname "$p")/$1" "$BIN/$1"
  say "$1: from your Pulumi $PULUMI_VERSION install $(dirname "$p") (linked into $BIN, not building)"
}

# pulumi-language-go from the release source in shared/upstream (the proxy does not serve it), with the pinned
# go.mod/go.sum of scripts/tools/pulumi-language-go laid over a temporary copy (the Node.js host's recipe).
PULUMI_GO_HOST_SRC=pulumi-language-go-$PULUMI_GO_HOST_VERSION
language_go_key() {
  local src
  src=$(find_upstream "$PULUMI_GO_HOST_SRC") && src=$(tree_hash "$src/$PULUMI_GO_HOST_SRC") || src=none
  echo "language-go $PULUMI_GO_HOST_VERSION $(hash_files "$MODS/pulumi-language-go/go.mod" "$MODS/pulumi-language-go/go.sum") src=$src $GO cgo=0"
}
build_language_go() {
  local tmp
  find_upstream "$PULUMI_GO_HOST_SRC" >/dev/null || upstream_missing "$PULUMI_GO_HOST_SRC" "pulumi-language-go $PULUMI_GO_HOST_VERSION" \
    "install Pulumi $PULUMI_VERSION from a release archive (https://www.pulumi.com/docs/install/): it ships pulumi-language-go beside the CLI"
  tmp=$(copy_upstream "$PULUMI_GO_HOST_SRC") || die "copying $PULUMI_GO_HOST_SRC failed"
  cp "$MODS/pulumi-language-go/go.mod" "$MODS/pulumi-language-go/go.sum" "$tmp/$PULUMI_GO_HOST_SRC/"
  CGO_ENABLED=0 gobuild_dir "$tmp/$PULUMI_GO_HOST_SRC" "$BIN/pulumi-language-go" . \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_GO_HOST_VERSION" ||
    { rm -rf "$tmp"; die "building pulumi-language-go failed; see the go output above"; }
  rm -rf "$tmp"
}
tool_language_go() {
  link_release_host pulumi-language-go && return
  require_go
  tool_build language-go "pulumi-language-go $PULUMI_GO_HOST_VERSION (from $PULUMI_GO_HOST_SRC)" "$(language_go_key)" build_language_go pulumi-language-go
}

# pulumi-language-yaml from the module proxy, in the wrapper module scripts/tools/pulumi-language-yaml (see its go.mod).
language_yaml_key() {
  echo "language-yaml $PULUMI_YAML_VERSION $(hash_files "$MODS/pulumi-language-yaml/go.mod" "$MODS/pulumi-language-yaml/go.sum") $GO cgo=0"
}
build_language_yaml() {
  CGO_ENABLED=0 gobuild pulumi-language-yaml pulumi-language-yaml github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml \
    -ldflags "-X github.com/pulumi/pulumi-yaml/pkg/version.Version=$PULUMI_YAML_VERSION"
}
tool_language_yaml() {
  link_release_host pulumi-language-yaml && return
  require_go
  # About 4 min on 2 cores with a cold cache (pulumi pkg v3.215 is not the CLI's v3.248: compiled once more).
  tool_build language-yaml "pulumi-language-yaml $PULUMI_YAML_VERSION (against pulumi sdk $(modver pulumi-language-yaml github.com/pulumi/pulumi/sdk/v3))" \
    "$(language_yaml_key)" build_language_yaml pulumi-language-yaml
}

# --- main --------------------------------------------------------------------------

print_env() {
  cat <<EOF
export PATH="$BIN:\$PATH"
export PULUMI_SKIP_UPDATE_CHECK=1
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_HOME="$PULUMI_HOME_DIR"
EOF
}

list() {
  cat <<EOF
containerd2 $CONTAINERD_VERSION ($BIN/containerd2, $BIN/ctr2)
crictl $CRICTL_VERSION ($BIN/crictl)
crio $CRIO_VERSION ($BIN/crio, $BIN/pinns)
pulumi $PULUMI_VERSION ($BIN/pulumi)
pulumi-language-nodejs $PULUMI_NODEJS_HOST_VERSION ($BIN/pulumi-language-nodejs)
pulumi-resource-command $PULUMI_COMMAND_VERSION ($PLUGIN_BIN, installed into $PLUGIN_DIR)
kubernetes $KUBERNETES_VERSION ($BIN/{$(IFS=,; echo "${KUBERNETES_BINS[*]}")})
pulumi-resource-kubernetes $KUBERNETES_PROVIDER_VERSION = $KUBERNETES_PROVIDER_MODULE@$KUBERNETES_PROVIDER_PSEUDO ($KPROVIDER_BIN, installed into $KPROVIDER_DIR)
pulumi-language-go $PULUMI_GO_HOST_VERSION ($BIN/pulumi-language-go)
pulumi-language-yaml $PULUMI_YAML_VERSION ($BIN/pulumi-language-yaml)
EOF
}

FORCE=""
CHECK=""
STALE=""
want=()
for a in "$@"; do
  case "$a" in
  --print-env) print_env; exit 0 ;;
  --list) list; exit 0 ;;
  --force) FORCE=1 ;;
  --check) CHECK=1 ;;
  -h | --help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  containerd2 | crictl | crio | pulumi | command | kubernetes | kubernetes-provider | language-go | language-yaml) want+=("$a") ;;
  *) die "unknown argument '$a' (tools: ${ALL_TOOLS[*]}; flags: --print-env --check --force --list)" ;;
  esac
done
[ ${#want[@]} -gt 0 ] || want=("${ALL_TOOLS[@]}")

mkdir -p "$BIN" "$STAMPS"
# One builder at a time (CI, tests and the demo may call this concurrently).
exec 9>"$TOOLS_DIR/.lock"
if command -v flock >/dev/null 2>&1; then
  flock -n 9 || { say "waiting for another scripts/tools.sh ..."; flock 9; }
fi

t_all=$(date +%s)
for t in "${want[@]}"; do
  "tool_${t//-/_}"
done
if [ -n "$CHECK" ]; then
  [ -z "$STALE" ] || { say "some tools are missing or stale: run scripts/tools.sh"; exit 1; }
else
  say "done in $(($(date +%s) - t_all))s; use: eval \"\$(scripts/tools.sh --print-env)\""
fi
