#!/usr/bin/env bash
# The first command of the README: install what is needed, build, and run Strait in the foreground.
#
# Until `strait up topologies/active-passive.yaml` lands, this starts a single broker on
# 127.0.0.1:9092 with its data in data/default; that command will replace the last line here.
# Ctrl-C (SIGINT) shuts the broker down gracefully.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

scripts/install-deps.sh
swift build -c release --product strait

mkdir -p data/default
exec .build/release/strait broker --listen 127.0.0.1:9092 --data-dir data/default "$@"
