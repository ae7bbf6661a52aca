#!/usr/bin/env bash
# The one test command (README and CI): every suite, in order, and a non-zero exit if any failed.
#
#   1. scripts/install-deps.sh          Debian packages and the .venv with the test clients
#   2. swift build --build-tests        debug build of every target, the strait binary included
#   3. swift test                       XCTest: every unit test target
#   4. scripts/check-generated.sh       the committed generated protocol code is reproducible
#                                       (skipped, with one line, without Kafka's schemas)
#   5. scripts/check-standalone.sh      a copy of the repository with nothing beside it needs
#                                       nothing outside it (a few seconds)
#   6. scripts/check-format.sh          the hand-written Swift code is formatted as .swift-format
#                                       says (swift-format, 120 columns; a few seconds)
#   7. pytest Tests/integration         real clients (kcat, confluent-kafka, kafka-python,
#                                       aiokafka) and raw sockets against real broker processes
#
# Steps 3-7 all run even when one of them fails, so one run shows every failure.
# Extra arguments are passed to pytest, e.g. `scripts/test.sh -k kcat`.
set -uo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

failed_steps=()

step() {
    echo
    echo "==> $*"
}

step "install dependencies"
scripts/install-deps.sh || { echo "test.sh: install-deps failed" >&2; exit 1; }

step "swift build --build-tests"
if ! swift build --build-tests; then
    echo "test.sh: the build failed; no test can run" >&2
    exit 1
fi

step "swift test"
swift test --skip-build || failed_steps+=("swift test")

if [[ -x scripts/check-generated.sh ]]; then
    step "scripts/check-generated.sh"
    scripts/check-generated.sh || failed_steps+=("check-generated")
fi

export STRAIT_BIN="${STRAIT_BIN:-$repo_root/.build/debug/strait}"

step "scripts/check-standalone.sh"
scripts/check-standalone.sh || failed_steps+=("check-standalone")

step "scripts/check-format.sh"
scripts/check-format.sh || failed_steps+=("check-format")

step "pytest Tests/integration"
.venv/bin/python -m pytest Tests/integration -q "$@"
pytest_status=$?
# Exit status 5 means pytest collected no test at all: that is a broken suite, not a pass.
if ((pytest_status != 0)); then
    failed_steps+=("pytest (exit $pytest_status)")
fi

echo
if ((${#failed_steps[@]} > 0)); then
    echo "test.sh: FAILED: ${failed_steps[*]}"
    exit 1
fi
echo "test.sh: all suites passed"
