#!/usr/bin/env bash
# Failover drill benchmark (docs/performance.md): release build, then bench/drill_bench.py.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
scripts/install-deps.sh
swift build -c release --product strait
exec .venv/bin/python bench/drill_bench.py "$@"
