# shellcheck shell=sh
# Read: the runtime and its version, the main config, the manifest, this instance's own hosts.toml files.
kind=$WANT_KIND
if [ "$kind" = auto ]; then
  if command -v crio >/dev/null 2>&1; then kind=cri-o
  elif command -v containerd >/dev/null 2>&1; then kind=containerd
  elif command -v dockerd >/dev/null 2>&1; then kind=docker
  else fail read "no container runtime found (looked for crio, containerd and dockerd on PATH); set the node's runtime"; fi
fi
case $kind in
  containerd) bin=containerd; main=$CONTAINERD_CONFIG ;;
  cri-o) bin=crio; main="" ;;
  docker) bin=dockerd; main=$DOCKER_DAEMON_JSON ;;
esac
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
