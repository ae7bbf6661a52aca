"""Client halves of SASL/PLAIN (RFC 4616) and SASL/SCRAM (RFC 5802, 7677), written for the
raw-socket tests, plus the two ways a Kafka client carries the tokens:

  SaslHandshake v1, then each token in a SaslAuthenticate request (KIP-152);
  SaslHandshake v0, then each token raw: INT32 size + bytes, answered the same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct

from support import wire


def plain_token(user: str, password: str) -> bytes:
    return b"\0" + user.encode() + b"\0" + password.encode()


class ScramClient:
    """One SCRAM exchange without channel binding (gs2 header "n,,")."""

    def __init__(self, mechanism: str, user: str, password: str):
        self.hash = {"SCRAM-SHA-256": hashlib.sha256, "SCRAM-SHA-512": hashlib.sha512}[mechanism]
        self.user = user
        self.password = password
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.client_first_bare = f"n={user.replace('=', '=3D').replace(',', '=2C')},r={self.nonce}"
        self.server_signature: bytes | None = None

    def first(self) -> bytes:
        return ("n,," + self.client_first_bare).encode()

    def final(self, server_first: bytes) -> bytes:
        fields = dict(item.split("=", 1) for item in server_first.decode().split(","))
        if not fields["r"].startswith(self.nonce):
            raise ValueError("server nonce does not extend ours")
        salted = hashlib.pbkdf2_hmac(self.hash().name, self.password.encode(), base64.b64decode(fields["s"]), int(fields["i"]))
        client_key = hmac.new(salted, b"Client Key", self.hash).digest()
        stored_key = self.hash(client_key).digest()
        without_proof = f"c={base64.b64encode(b'n,,').decode()},r={fields['r']}"
        auth_message = f"{self.client_first_bare},{server_first.decode()},{without_proof}".encode()
        signature = hmac.new(stored_key, auth_message, self.hash).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        server_key = hmac.new(salted, b"Server Key", self.hash).digest()
        self.server_signature = hmac.new(server_key, auth_message, self.hash).digest()
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify(self, server_final: bytes) -> bool:
        return server_final.decode() == "v=" + base64.b64encode(self.server_signature).decode()


def tokens(mechanism: str, user: str, password: str):
    """A generator: send() it each server token, it yields the next client token (None: done).
    The first next() gives the initial token. Verifies SCRAM's server signature."""
    if mechanism == "PLAIN":
        yield plain_token(user, password)
        return
    client = ScramClient(mechanism, user, password)
    server_first = yield client.first()
    server_final = yield client.final(server_first)
    if not client.verify(server_final):
        raise AssertionError("SCRAM server signature does not verify")


def authenticate(connection: wire.KafkaConnection, mechanism: str, user: str, password: str,
                 authenticate_version: int = 1) -> wire.SaslAuthenticateResponse:
    """SaslHandshake v1 + SaslAuthenticate rounds; returns the last SaslAuthenticate answer
    (error or success)."""
    _, error, _ = wire.parse_sasl_handshake(connection.request(wire.sasl_handshake_request(1, mechanism)))
    assert error == 0, f"SaslHandshake error {error}"
    exchange = tokens(mechanism, user, password)
    token = next(exchange)
    correlation_id = 2
    while True:
        answer = wire.parse_sasl_authenticate(
            connection.request(wire.sasl_authenticate_request(correlation_id, token, authenticate_version)), authenticate_version)
        correlation_id += 1
        if answer.error_code != 0:
            return answer
        try:
            token = exchange.send(answer.auth_bytes)
        except StopIteration:
            return answer


def authenticate_raw(connection: wire.KafkaConnection, mechanism: str, user: str, password: str) -> None:
    """SaslHandshake v0, then raw tokens. Raises wire.ConnectionClosed when the broker refuses."""
    _, error, _ = wire.parse_sasl_handshake(connection.request(wire.sasl_handshake_request(1, mechanism, version=0)))
    assert error == 0, f"SaslHandshake v0 error {error}"
    exchange = tokens(mechanism, user, password)
    token = next(exchange)
    while True:
        connection.send(struct.pack(">i", len(token)) + token)
        reply = connection.read_response()
        try:
            token = exchange.send(reply)
        except StopIteration:
            return
