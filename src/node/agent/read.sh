# shellcheck shell=sh
# Read: the runtime and its version, the main config, the manifest, this instance's own hosts.toml files.
# RUNTIMES: "kind binary main-config" triples, in detection order ("-" for no main config).
kind=""; bin=""; main=""; looked=""
# shellcheck disable=SC2086 # split into the triples on purpose
set -- $RUNTIMES
while [ $# -ge 3 ]; do
  if { [ "$WANT_KIND" = auto ] && command -v "$2" >/dev/null 2>&1; } || [ "$WANT_KIND" = "$1" ]; then
    kind=$1; bin=$2; main=$3; break
  fi
  looked="$looked${looked:+, }$2"; shift 3
done
[ -n "$kind" ] || fail read "no container runtime found (looked for $looked on PATH); set the node's runtime"
[ "$main" != - ] || main=""
say "RM-RUNTIME $kind"
say "RM-VERSION $($bin --version 2>/dev/null | head -n 1)"
if [ -n "$main" ]; then
  if [ -f "$main" ]; then say "RM-MAIN $(sha "$main") $main"; b64_block RM-CONTENT "$main"
  else say "RM-MAIN absent $main"; fi
fi
if [ -f "$STATE/manifest" ]; then
  b64_block RM-MANIFEST "$STATE/manifest"
  compute_alone
  awk '$1=="f" || $1=="m" {print $2, (NF >= 5 ? $5 : "-")}' "$STATE/manifest" | while read -r p was; do
    say "RM-SHA $(sha "$p") $p"
    # Content only of this instance's own files: another stack's hosts.toml may hold its credentials.
    case $p in */hosts.toml) if [ -f "$p" ] && owns "$was"; then b64_block "RM-OWNED $p" "$p"; fi ;; esac
  done
fi
exit 0
