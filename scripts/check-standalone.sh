#!/usr/bin/env bash
# The test command needs nothing outside the repository. CI has ../shared beside its clone (the
# Kafka schemas check-generated.sh reads); nobody who clones the project does. This copies the
# repository's tracked files into an empty temporary folder, with nothing beside it, and runs
# there, cheaply, every step of scripts/test.sh that could reach outside the repository:
#
#   1. scripts/check-generated.sh   skips with its one line and exits 0 (no ../shared, no
#                                   STRAIT_SCHEMA_DIR)
#   2. swift package dump-package   the manifest: every dependency a URL, every target inside
#   3. pytest --collect-only        the integration suite imports and collects from the copy, and
#                                   its checks of the shipped topology files pass there
#
# The build and the suites themselves are not run twice: they read nothing the manifest and the
# collected tests do not name. Needs .venv (scripts/install-deps.sh) and the debug strait binary.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

fail() {
    echo "check-standalone: $*" >&2
    exit 1
}

if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "check-standalone: skipped (not a git checkout: the tracked files are unknown)"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
copy="$tmp/strait"
mkdir "$copy"
# The tracked files as they are in the work tree: a clone's content, without .build, .venv or data.
git ls-files -z | tar --null --files-from=- --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$copy"
if [[ -e "$tmp/shared" ]]; then fail "$tmp/shared exists"; fi

# 1. The generated-code check without schemas.
output="$(cd "$copy" && env -u STRAIT_SCHEMA_DIR scripts/check-generated.sh 2>&1)" \
    || fail "scripts/check-generated.sh failed without ../shared: $output"
if [[ "$output" != "check-generated: skipped "* || "$output" == *$'\n'* ]]; then
    fail "scripts/check-generated.sh without ../shared printed, instead of one 'skipped' line: $output"
fi

# 2. The manifest: dependencies are fetched by URL, no target lives outside the package.
(cd "$copy" && swift package dump-package 2>/dev/null) > "$tmp/package.json" \
    || fail "swift package dump-package failed in the copy"
python3 - "$tmp/package.json" <<'PY' || fail "the manifest reaches outside the repository"
import json, os, sys
package = json.load(open(sys.argv[1]))
problems = []
for dependency in package.get("dependencies", []):
    if "fileSystem" in dependency:
        problems.append(f"dependency on a local path: {dependency['fileSystem']}")
for target in package.get("targets", []):
    path = target.get("path")
    if path and (os.path.isabs(path) or os.path.normpath(path).startswith("..")):
        problems.append(f"target {target['name']} at {path}")
for problem in problems:
    print(f"check-standalone: {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY

# 3. The integration suite, from the copy (the binary built in the repository).
venv_python="$repo_root/.venv/bin/python"
[[ -x "$venv_python" ]] || fail "no $venv_python: run scripts/install-deps.sh first"
strait_bin="${STRAIT_BIN:-$repo_root/.build/debug/strait}"
[[ -x "$strait_bin" ]] || fail "no strait binary at $strait_bin: run swift build first"
collected="$(cd "$copy" && "$venv_python" -m pytest --collect-only -q Tests/integration 2>&1 | tail -1)" \
    || fail "pytest cannot collect Tests/integration in the copy: $collected"
(cd "$copy" && STRAIT_BIN="$strait_bin" "$venv_python" -m pytest -q \
    Tests/integration/test_topologies.py::test_every_shipped_topology_passes_check \
    Tests/integration/test_cli_errors.py::test_status_with_nothing_running_prints_one_error_line \
    >"$tmp/pytest.log" 2>&1) || { cat "$tmp/pytest.log" >&2; fail "the shipped-file tests fail in the copy"; }

echo "check-standalone: a copy with nothing beside it needs nothing outside the repository" \
    "(check-generated skipped, manifest self-contained, pytest: $collected)"
