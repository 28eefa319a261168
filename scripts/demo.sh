#!/usr/bin/env bash
# The README's demo command on a fresh Debian 12 machine: installs what is missing (scripts/setup.sh), then runs
# `npm run demo` (lab nodes, `pulumi up` with the real engine, a pull served by the mirror on every node).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
npm run demo
