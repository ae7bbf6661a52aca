"""Test certificates made with the openssl command line: a CA, a server certificate for
127.0.0.1/localhost, a client certificate from that CA, one from a CA nobody trusts, and an
expired client and an expired server certificate from the trusted CA.

Expired certificates: `openssl x509 -req` (OpenSSL 3.0) cannot set a start date in the past, so
they are signed with `openssl ca`, whose -startdate/-enddate take any dates (here a day in 2020),
using a throwaway CA database in the certificate folder."""

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
expired() { # name subject [extfile]: signed by ca, valid for one day in 2020 only
    key "$1"
    openssl req -new -key "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in "$1.csr" -out "$1.pem" -notext -preserveDN \
        -startdate 20200101000000Z -enddate 20200102000000Z ${3:+-extfile "$3"} 2>/dev/null
}
mkdir -p ca-db && : > ca-db/index.txt && echo 10 > ca-db/serial
cat > ca.cnf <<'CNF'
[ca]
default_ca = test_ca
[test_ca]
database = ca-db/index.txt
new_certs_dir = ca-db
serial = ca-db/serial
default_md = sha256
policy = any_subject
unique_subject = no
[any_subject]
commonName = supplied
CNF
expired expired-alice "/CN=expired-alice/OU=eng/O=Example"
expired expired-server "/CN=localhost" server.ext
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
