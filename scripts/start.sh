#!/usr/bin/env bash
# The first command of the README: install what is needed, build, and run the embedded default in
# the foreground: topologies/active-passive.yaml, two local sites (east on 127.0.0.1:19092, west
# on 127.0.0.1:29092, data in data/east and data/west) and the link east -> west, which mirrors
# east's orders.* and payments topics to west as east.<topic>; `strait status FILE` shows its lag.
# Ctrl-C (SIGINT) shuts everything down gracefully. Another topology: scripts/start.sh FILE.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

scripts/install-deps.sh
swift build -c release --product strait

exec .build/release/strait up "${1:-topologies/active-passive.yaml}"
