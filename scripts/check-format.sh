#!/usr/bin/env bash
# The hand-written Swift code stays formatted by swift-format (the toolchain's `swift format`)
# with the repository's .swift-format: 4-space indentation, 120 columns, line breaks that are
# already there respected, no rewriting rules. The generated protocol code and its test samples
# are left out: scripts/check-generated.sh keeps them equal to the generator's output.
#
#   scripts/check-format.sh          exits 1 and lists the files that would change
#   scripts/check-format.sh --fix    formats them in place
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

mapfile -d '' files < <(find Package.swift Sources Tests -name '*.swift' \
    -not -path 'Sources/KafkaProtocol/Generated/*' \
    -not -path 'Tests/KafkaProtocolTests/GeneratedSamples.swift' -print0 | sort -z)

if [[ "${1:-}" == "--fix" ]]; then
    swift format format --in-place --configuration .swift-format "${files[@]}"
    exit 0
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for file in "${files[@]}"; do
    mkdir -p "$scratch/$(dirname "$file")"
    cp "$file" "$scratch/$file"
done
(cd "$scratch" && swift format format --in-place --configuration "$repo_root/.swift-format" "${files[@]}")
unformatted=()
for file in "${files[@]}"; do
    cmp -s "$file" "$scratch/$file" || unformatted+=("$file")
done
if ((${#unformatted[@]} > 0)); then
    echo "check-format: ${#unformatted[@]} file(s) not formatted (run scripts/check-format.sh --fix):" >&2
    printf '  %s\n' "${unformatted[@]}" >&2
    exit 1
fi
echo "check-format: ${#files[@]} files formatted as .swift-format says"
