#!/usr/bin/env bash
# A failover drill from a fresh clone: install what is needed, build (release), and run
# `strait drill` on topologies/disaster-recovery.yaml. The drill runs both embedded sites itself
# on scratch data (a temporary folder, removed afterwards), writes a sequence-numbered workload
# at the primary, kills the primary (-9), fails over to the standby, moves the workload there and
# prints the report (acknowledged_lost, rpo_records, rpo_seconds, reread, skipped, rto_seconds,
# the steps). Nothing else may use the topology's ports meanwhile (stop scripts/start.sh first).
#
#   scripts/drill.sh                              # unplanned, 1,000 records/s
#   scripts/drill.sh --kind planned --output json # any `strait drill` option (strait drill --help)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

scripts/install-deps.sh
swift build -c release --product strait

exec .build/release/strait drill topologies/disaster-recovery.yaml "$@"
