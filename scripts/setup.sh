#!/usr/bin/env bash
# Installs everything the tests and the demo need on a Debian 12 machine (as root), skipping what is already there:
# the Debian packages the lab uses, the npm dependencies (`npm ci`), and the pinned Go tools (`scripts/tools.sh`:
# containerd 2.x, crictl, the Pulumi CLI with its Node.js, Go and YAML language hosts, pulumi-resource-command in the
# plugin cache). Idempotent: a second run reuses apt, npm and Go build caches. Progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Debian packages the lab needs (see test/lab/README.md): runtimes, registries, sshd, skopeo, Ansible for the
# benchmark baseline; etcd-server and containernetworking-plugins (the loopback CNI) for the lab cluster
# (test/lab/cluster.ts).
APT_PACKAGES="dash bash busybox shellcheck curl containerd runc conmon docker.io docker-registry skopeo podman nginx openssh-server openssh-client apache2-utils sudo ansible iproute2 procps openssl ca-certificates gcc make libc6-dev etcd-server containernetworking-plugins"
missing=""
for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  say "installing Debian packages:$missing (a few minutes) ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  say "Debian packages: all present"
fi
# Debian starts these services on install where systemd runs; the lab starts its own copies on loopback.
for svc in containerd docker nginx ssh docker-registry etcd; do
  if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
done

# The @pulumi packages' install scripts try to download plugins from the internet; scripts/tools.sh provides them.
lock_sha=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.regmirror-lock-sha 2>/dev/null)" != "$lock_sha" ]; then
  say "npm ci ..."
  npm ci --ignore-scripts --no-audit --no-fund
  echo "$lock_sha" > node_modules/.regmirror-lock-sha
else
  say "node_modules: installed from this package-lock.json"
fi

# Go tools, pinned and cached in .tools/ (git-ignored); each is rebuilt only when its stamp changes.
say "Go tools (scripts/tools.sh; ~10 min on 2 cores the first time, seconds afterwards) ..."
scripts/tools.sh
say "done"
