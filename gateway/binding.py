"""What must hold before the gateway listens: its ports can be bound, its TLS pair parses.

Each failure is a `ConfigError` naming the setting, so the start ends with one clear line
(`grpc_port: 127.0.0.1:50051 is in use`) instead of a library's traceback or, for gRPC, a
terse "Failed to bind" plus a plain-text line from its C core. Only `app.py` uses this.
"""

from __future__ import annotations

import errno
import socket

import grpc
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from gateway.config import ConfigError, Settings

__all__ = ["bind_error", "grpc_tls_credentials", "probe_port"]


def grpc_tls_credentials(settings: Settings) -> grpc.ServerCredentials:
    """The server's TLS pair, parsed now: grpc would take garbage here and fail every
    handshake later."""
    assert settings.grpc_tls_cert_file is not None and settings.grpc_tls_key_file is not None
    cert = settings.grpc_tls_cert_file.read_bytes()
    key = settings.grpc_tls_key_file.read_bytes()
    try:
        x509.load_pem_x509_certificate(cert)
    except ValueError:
        raise ConfigError("grpc_tls_cert_file", "not a PEM certificate") from None
    try:
        serialization.load_pem_private_key(key, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError("grpc_tls_key_file", "not an unencrypted PEM private key") from None
    return grpc.ssl_server_credentials([(key, cert)])


def probe_port(field: str, host: str, port: int) -> None:
    """`ConfigError` when `host:port` cannot be bound (in use, not this machine's address)."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise bind_error(field, host, port, exc) from None
    unusable: list[OSError] = []
    for family, kind, proto, _, address in infos:
        try:
            with socket.socket(family, kind, proto) as probe:
                # as servers bind: TIME_WAIT leftovers do not count as "in use", listeners do
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(address)
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise bind_error(field, host, port, exc) from None
            unusable.append(exc)  # e.g. ::1 for "localhost" on a host without IPv6
    if unusable and len(unusable) == len(infos):  # gRPC binds if any address works
        raise bind_error(field, host, port, unusable[0])


def bind_error(field: str, host: str, port: int, exc: OSError) -> ConfigError:
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return ConfigError(field, f"{where} is in use (another gateway or program listens there)")
    reason = exc.strerror or str(exc)
    return ConfigError(field, f"cannot listen on {where}: {reason}")
