#!/usr/bin/env bash
# Regenerates the KafkaProtocol message types (and the test samples) into a temporary directory
# and compares them with the committed files. Exits 1 and prints the diff when they differ.
#
#   scripts/check-generated.sh            # schemas from ../shared/kafka-protocol/messages
#   STRAIT_SCHEMA_DIR=/path scripts/check-generated.sh
#
# The schemas are Apache Kafka's, not part of this repository (docs/protocol.md says which
# version). Without STRAIT_SCHEMA_DIR and without ../shared beside the repository, the check is
# skipped with one line saying how to run it, and exits 0. A STRAIT_SCHEMA_DIR that is not a
# directory is an error (exit 2).
set -euo pipefail

repo_root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo_root"
default_schema_dir="../shared/kafka-protocol/messages"
schema_dir="${STRAIT_SCHEMA_DIR:-$default_schema_dir}"
if [ ! -d "$schema_dir" ]; then
    if [ -z "${STRAIT_SCHEMA_DIR:-}" ]; then
        echo "check-generated: skipped (no $default_schema_dir beside the repository); to run it:" \
            "STRAIT_SCHEMA_DIR=DIR scripts/check-generated.sh, DIR being such a folder or an Apache Kafka 3.9" \
            "checkout's clients/src/main/resources/common/message (docs/protocol.md)"
        exit 0
    fi
    echo "check-generated: STRAIT_SCHEMA_DIR is not a directory: $schema_dir" >&2
    exit 2
fi

# Strait-only APIs (e.g. StraitMirrorAppend) have their schemas in the package itself.
strait_schema_dir="Sources/KafkaProtocol/StraitSchemas"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/Generated"

swift build --product strait-protocol-gen >/dev/null
generator="$(swift build --product strait-protocol-gen --show-bin-path)/strait-protocol-gen"
"$generator" "$schema_dir" "$tmp/Generated" --strait-schemas "$strait_schema_dir" \
    --test-samples "$tmp/GeneratedSamples.swift"

status=0
diff -ru Sources/KafkaProtocol/Generated "$tmp/Generated" || status=1
diff -u Tests/KafkaProtocolTests/GeneratedSamples.swift "$tmp/GeneratedSamples.swift" || status=1
if [ "$status" -ne 0 ]; then
    echo "check-generated: generated code is out of date; regenerate with:" >&2
    echo "  swift run strait-protocol-gen $schema_dir Sources/KafkaProtocol/Generated" \
        "--strait-schemas $strait_schema_dir --test-samples Tests/KafkaProtocolTests/GeneratedSamples.swift" >&2
    exit 1
fi
echo "check-generated: generated code is up to date"
