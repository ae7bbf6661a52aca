"""Test certificates made with the openssl command line: a CA, a server certificate for
127.0.0.1/localhost, a client certificate from that CA, and one from a CA nobody trusts."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPT = r"""
set -e
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }
ca() { key "$1"; openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 2 -subj "$2" 2>/dev/null; }
signed() {
    key "$1"
    openssl req -new -key "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    if [ -n "$5" ]; then
        openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -set_serial "$4" -days 2 -extfile "$5" -out "$1.pem" 2>/dev/null
    else
        openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -set_serial "$4" -days 2 -out "$1.pem" 2>/dev/null
    fi
}
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > server.ext
ca ca "/CN=Strait Test CA"
ca rogue "/CN=Rogue CA"
signed server "/CN=localhost" ca 1 server.ext
signed alice "/CN=alice/OU=eng/O=Example" ca 2
signed mallory "/CN=mallory" rogue 3
"""


@dataclass
class Certificates:
    directory: Path

    def path(self, name: str) -> str:
        return str(self.directory / name)


def make_certificates(directory: Path) -> Certificates:
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(["bash", "-c", SCRIPT], cwd=directory, check=True, capture_output=True, timeout=60)
    return Certificates(directory)
