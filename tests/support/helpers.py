"""Shared test pieces: request builders (the production builder lives in gateway.client),
free ports, a self-signed TLS pair, and `python -m gateway` as a child process."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
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
    """A port free now, for a process that must listen on a known port (a restart test).

    Taken below the kernel's ephemeral range: a port from that range (what binding port 0
    gives) can be handed to any process's outgoing connection between this call and the
    caller's bind, which under load made a gateway exit with "http_port ... is in use".
    """
    low = _EPHEMERAL_LOW
    for _ in range(200):
        port = random.randrange(_OWN_LOW, low) if low - _OWN_LOW > 1000 else 0
        if port in _GIVEN:  # not the same port twice to one test run (two in a row: clash)
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            given = int(sock.getsockname()[1])
        _GIVEN.add(given)
        return given
    raise OSError("no free port below the ephemeral range")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0  # unknown: free_port falls back to port 0


#: The lowest port free_port picks, and the start of the kernel's ephemeral range.
_OWN_LOW = 20000
_EPHEMERAL_LOW = _ephemeral_low()
#: Every port free_port has returned in this process.
_GIVEN: set[int] = set()


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
