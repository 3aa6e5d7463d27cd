"""Shared test pieces: request builders (the production builder lives in gateway.client),
free ports, a self-signed TLS pair, and `python -m gateway` as a child process."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import sys
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.protobuf import struct_pb2

from gateway.api.v1 import gateway_pb2 as pb


def users(*user_ids: str) -> pb.Target:
    return pb.Target(users=pb.UserIds(user_ids=list(user_ids)))


def topic(name: str) -> pb.Target:
    return pb.Target(topic=name)


def everyone() -> pb.Target:
    return pb.Target(everyone=pb.Everyone())


def request(target: pb.Target, type: str = "test.event", **fields: Any) -> pb.PublishRequest:
    data = fields.pop("data", None)
    notification = pb.Notification(type=type, **fields)
    if data is not None:
        struct = struct_pb2.Struct()
        struct.update(data)
        notification.data.CopyFrom(struct)
    return pb.PublishRequest(target=target, notification=notification)


ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A port free now, for a process that must listen on a known port (a restart test)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def gateway_process(
    *args: str,
    env: dict[str, str] | None = None,
    stdout: int = asyncio.subprocess.DEVNULL,
    stderr: int = asyncio.subprocess.PIPE,
) -> asyncio.subprocess.Process:
    """`python -m gateway *args` (serve by default) from the repository root."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", *args, cwd=ROOT, env=env, stdout=stdout, stderr=stderr
    )


def self_signed_cert(directory: Path) -> bytes:
    """Writes cert.pem and key.pem (EC P-256, CN and SAN localhost) into `directory`;
    returns the certificate, which is its own root."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (directory / "cert.pem").write_bytes(cert_pem)
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_pem


class RecordingListener:
    """A `LogListener` for tests of a log alone: records entries and gaps, answers nothing."""

    def __init__(self, delivered: int = 1) -> None:
        self.entries: list[Any] = []
        self.gaps: list[Any] = []
        self._delivered = delivered

    def deliver(self, entry: Any) -> int:
        self.entries.append(entry)
        return self._delivered

    def deliver_shard(self, entry: Any, shard: int) -> int:
        return self.deliver(entry)

    def gap(self, scope: Any) -> None:
        self.gaps.append(scope)

    def answer(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        return {}
