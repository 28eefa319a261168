#!/usr/bin/env bash
# Reproducible, pinned build of the Go tools this project tests against, into
# the git-ignored .tools/bin/. See scripts/tools/README.md.
#
#   scripts/tools.sh                      build whatever is missing or stale (all tools)
#   scripts/tools.sh containerd2 crictl   build a subset (tools: containerd2 crictl command-provider pulumi)
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
ALL_TOOLS=(containerd2 crictl command-provider pulumi)
GO_MIN=1.25.11 # highest `go` line of the wrapper modules (pulumi pkg/v3 needs 1.25.11)

say() { printf '[tools] %s\n' "$*" >&2; }
die() { printf '[tools] ERROR: %s\n' "$*" >&2; exit 1; }

# --- pins (read from the wrapper modules) ----------------------------------------

modver() { # modver WRAPPER MODULE -> version required by scripts/tools/WRAPPER/go.mod
  local v
  v=$(awk -v m="$2" '($1 == m || ($1 == "require" && $2 == m)) { print ($1 == "require" ? $3 : $2); exit }' "$MODS/$1/go.mod")
  [ -n "$v" ] || die "scripts/tools/$1/go.mod does not require $2"
  echo "$v"
}

CONTAINERD_VERSION=$(modver containerd github.com/containerd/containerd/v2)
CRICTL_VERSION=$(modver crictl sigs.k8s.io/cri-tools)
PULUMI_VERSION=$(modver pulumi github.com/pulumi/pulumi/pkg/v3)
PULUMI_SDK_VERSION=$(modver pulumi github.com/pulumi/pulumi/sdk/v3)
PULUMI_NODEJS_HOST_VERSION=$(modver pulumi-language-nodejs github.com/pulumi/pulumi/sdk/v3)
PULUMI_COMMAND_VERSION=1.2.1 # matches npm @pulumi/command; see pulumi_command_note

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
  mkdir -p "$BIN"
  (
    cd "$MODS/$mod"
    GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -mod=readonly" \
      go build -trimpath -o "$BIN/.$out.tmp" "$@" "$pkg"
  ) || { rm -f "$BIN/.$out.tmp"; die "building $out ($pkg) failed; see the go output above"; }
  mv -f "$BIN/.$out.tmp" "$BIN/$out"
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
  local key
  require_go
  key=$(containerd_key)
  if stamp_ok containerd2 "$key" containerd2 ctr2 && [ -z "$FORCE" ]; then
    say "containerd2 $CONTAINERD_VERSION: up to date ($BIN/containerd2, $BIN/ctr2)"
    return
  fi
  [ -n "$CHECK" ] && { say "containerd2 $CONTAINERD_VERSION: missing or stale"; STALE=1; return; }
  say "building containerd2 + ctr2 $CONTAINERD_VERSION ..."
  timed "containerd2+ctr2 $CONTAINERD_VERSION" build_containerd2
  write_stamp containerd2 "$key"
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
  local key
  require_go
  key=$(crictl_key)
  if stamp_ok crictl "$key" crictl && [ -z "$FORCE" ]; then
    say "crictl $CRICTL_VERSION: up to date ($BIN/crictl)"
    return
  fi
  [ -n "$CHECK" ] && { say "crictl $CRICTL_VERSION: missing or stale"; STALE=1; return; }
  say "building crictl $CRICTL_VERSION ..."
  timed "crictl $CRICTL_VERSION" build_crictl
  write_stamp crictl "$key"
}

# --- pulumi (CLI + nodejs language host + dynamic-provider shim) ----------------------

pulumi_command_note() {
  cat >&2 <<EOF
[tools] NOTE: pulumi-resource-command $PULUMI_COMMAND_VERSION is not built: its Go module
[tools]   (github.com/pulumi/pulumi-command/provider, untagged path, only reachable by a
[tools]   pseudo-version of tag v$PULUMI_COMMAND_VERSION) is not served by this machine's Go module
[tools]   proxy (HTTP 403), and no release binary can be downloaded here. Programs using
[tools]   @pulumi/command fail with "no resource plugin 'pulumi-resource-command' found".
[tools]   Put a pulumi-resource-command $PULUMI_COMMAND_VERSION binary on PATH or in $BIN to use it.
EOF
}

pulumi_key() {
  echo "pulumi $PULUMI_VERSION sdk $PULUMI_SDK_VERSION host $PULUMI_NODEJS_HOST_VERSION $(hash_files "$MODS/pulumi/go.mod" "$MODS/pulumi/go.sum" "$MODS/pulumi-language-nodejs/go.mod" "$MODS/pulumi-language-nodejs/go.sum") $GO cgo=0"
}
build_pulumi_cli() {
  CGO_ENABLED=0 gobuild pulumi pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION"
}
build_pulumi_host() {
  CGO_ENABLED=0 gobuild pulumi-language-nodejs pulumi-language-nodejs \
    github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_NODEJS_HOST_VERSION"
  # The release archives ship this 5-line shim next to the CLI (dynamic providers).
  local shim
  shim=$(cd "$MODS/pulumi" && GOTOOLCHAIN=local go list -mod=readonly -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)/nodejs/dist/pulumi-resource-pulumi-nodejs
  if [ ! -f "$shim" ]; then
    (cd "$MODS/pulumi" && GOTOOLCHAIN=local go mod download github.com/pulumi/pulumi/sdk/v3)
  fi
  install -m 0755 "$shim" "$BIN/pulumi-resource-pulumi-nodejs"
}
pulumi_on_path() { # a pulumi of the pinned version on PATH, outside .tools/bin
  local p v
  p=$(PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$BIN" | paste -sd: -) command -v pulumi 2>/dev/null) || return 1
  v=$(PULUMI_SKIP_UPDATE_CHECK=1 "$p" version 2>/dev/null) || return 1
  [ "$v" = "$PULUMI_VERSION" ] || { say "ignoring $p ($v): pinned $PULUMI_VERSION"; return 1; }
  echo "$p"
}
tool_pulumi() {
  local key p d x
  if p=$(pulumi_on_path); then
    d=$(dirname "$p")
    say "pulumi $PULUMI_VERSION already on PATH: $p (not building)"
    for x in pulumi-language-nodejs pulumi-resource-command; do
      if [ -x "$d/$x" ] || command -v "$x" >/dev/null 2>&1; then say "  $x: $(command -v "$x" || echo "$d/$x")"; else say "  $x: NOT FOUND"; fi
    done
    return
  fi
  require_go
  key=$(pulumi_key)
  if stamp_ok pulumi "$key" pulumi pulumi-language-nodejs pulumi-resource-pulumi-nodejs && [ -z "$FORCE" ]; then
    say "pulumi $PULUMI_VERSION (+ pulumi-language-nodejs $PULUMI_NODEJS_HOST_VERSION): up to date ($BIN/pulumi)"
  elif [ -n "$CHECK" ]; then
    say "pulumi $PULUMI_VERSION: missing or stale"; STALE=1; return
  else
    say "building pulumi $PULUMI_VERSION (slow: ~5 min on 2 cores with a cold cache) ..."
    timed "pulumi $PULUMI_VERSION" build_pulumi_cli
    say "building pulumi-language-nodejs $PULUMI_NODEJS_HOST_VERSION ..."
    timed "pulumi-language-nodejs $PULUMI_NODEJS_HOST_VERSION" build_pulumi_host
    write_stamp pulumi "$key"
  fi
  if [ -x "$BIN/pulumi-resource-command" ] || command -v pulumi-resource-command >/dev/null 2>&1; then
    say "pulumi-resource-command: $(command -v pulumi-resource-command || echo "$BIN/pulumi-resource-command")"
  else
    pulumi_command_note
  fi
}

# --- command-provider: STAND-IN for pulumi-resource-command (TypeScript) ------------------
# Not a Go build: the real provider's module is refused by the module proxy (see
# pulumi_command_note), so tools/command-provider/ holds a TypeScript stand-in that speaks the
# provider gRPC protocol and reports version $PULUMI_COMMAND_VERSION. It is compiled with the
# repo's tsc into .tools/command-provider/ and its shell wrapper is installed as
# .tools/bin/pulumi-resource-command, unless a real plugin is present (on PATH outside
# .tools/bin, already in .tools/bin, or in the Pulumi plugin cache), which it would shadow.
# See tools/command-provider/README.md.

STANDIN_SRC="$ROOT/tools/command-provider"
STANDIN_OUT="$TOOLS_DIR/command-provider"
STANDIN_MARK="STAND-IN for pulumi-resource-command"

standin_key() {
  local node_v
  node_v=$(node --version 2>/dev/null || echo none)
  echo "command-provider $PULUMI_COMMAND_VERSION $(cd "$STANDIN_SRC" && find . -type f \( -name '*.ts' -o -name '*.json' -o -name pulumi-resource-command \) | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16) node=$node_v"
}
real_command_plugin() { # prints the path of a real (non-stand-in) pulumi-resource-command, if any
  local p home
  if [ -e "$BIN/pulumi-resource-command" ] && ! grep -q "$STANDIN_MARK" "$BIN/pulumi-resource-command" 2>/dev/null; then
    echo "$BIN/pulumi-resource-command"; return 0
  fi
  p=$(PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$BIN" | paste -sd: -) command -v pulumi-resource-command 2>/dev/null) && { echo "$p"; return 0; }
  home=${PULUMI_HOME:-$HOME/.pulumi}
  p="$home/plugins/resource-command-v$PULUMI_COMMAND_VERSION/pulumi-resource-command"
  [ -x "$p" ] && { echo "$p"; return 0; }
  return 1
}
build_command_standin() {
  local tsc="$ROOT/node_modules/.bin/tsc"
  rm -rf "$STANDIN_OUT.tmp"
  (cd "$ROOT" && "$tsc" -p tools/command-provider --outDir "$STANDIN_OUT.tmp") \
    || { rm -rf "$STANDIN_OUT.tmp"; die "compiling tools/command-provider failed"; }
  rm -rf "$STANDIN_OUT"
  mv "$STANDIN_OUT.tmp" "$STANDIN_OUT"
  install -m 0755 "$STANDIN_SRC/pulumi-resource-command" "$BIN/.pulumi-resource-command.tmp"
  mv -f "$BIN/.pulumi-resource-command.tmp" "$BIN/pulumi-resource-command"
}
tool_command-provider() {
  local real key
  if real=$(real_command_plugin); then
    say "command-provider: a real pulumi-resource-command is present ($real); stand-in not installed"
    return
  fi
  if ! command -v node >/dev/null 2>&1 || [ ! -x "$ROOT/node_modules/.bin/tsc" ] || [ ! -d "$ROOT/node_modules/@pulumi/pulumi" ]; then
    say "command-provider: needs node and node_modules (npm ci) to build the stand-in; skipped"
    [ -n "$CHECK" ] && STALE=1
    return
  fi
  key=$(standin_key)
  if stamp_ok command-provider "$key" pulumi-resource-command && [ -f "$STANDIN_OUT/main.js" ] && [ -z "$FORCE" ]; then
    say "pulumi-resource-command $PULUMI_COMMAND_VERSION STAND-IN: up to date ($BIN/pulumi-resource-command)"
  elif [ -n "$CHECK" ]; then
    say "pulumi-resource-command STAND-IN: missing or stale"; STALE=1; return
  else
    timed "pulumi-resource-command $PULUMI_COMMAND_VERSION STAND-IN (tsc)" build_command_standin
    write_stamp command-provider "$key"
  fi
  cat >&2 <<EOF
[tools] NOTE: $BIN/pulumi-resource-command is a STAND-IN, not the real provider: a TypeScript
[tools]   re-implementation of command:remote:Command and command:local:Command (tools/command-provider,
[tools]   using the system OpenSSH client) that reports version $PULUMI_COMMAND_VERSION. The real Go provider
[tools]   cannot be built here because this machine's Go module proxy refuses every version of
[tools]   github.com/pulumi/pulumi-command/provider (HTTP 403). Differences: tools/command-provider/README.md.
EOF
}

# --- main --------------------------------------------------------------------------

print_env() {
  cat <<EOF
export PATH="$BIN:\$PATH"
export PULUMI_SKIP_UPDATE_CHECK=1
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
EOF
}

list() {
  cat <<EOF
containerd2 $CONTAINERD_VERSION ($BIN/containerd2, $BIN/ctr2)
crictl $CRICTL_VERSION ($BIN/crictl)
pulumi $PULUMI_VERSION ($BIN/pulumi)
pulumi-language-nodejs $PULUMI_NODEJS_HOST_VERSION ($BIN/pulumi-language-nodejs)
pulumi-resource-command $PULUMI_COMMAND_VERSION (not buildable here; see README)
command-provider: pulumi-resource-command $PULUMI_COMMAND_VERSION STAND-IN ($BIN/pulumi-resource-command, tools/command-provider)
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
  containerd2 | crictl | pulumi | command-provider) want+=("$a") ;;
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
  "tool_$t"
done
if [ -n "$CHECK" ]; then
  [ -z "$STALE" ] || { say "some tools are missing or stale: run scripts/tools.sh"; exit 1; }
else
  say "done in $(($(date +%s) - t_all))s; use: eval \"\$(scripts/tools.sh --print-env)\""
fi
