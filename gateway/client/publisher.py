"""The blocking publisher for scripts and the CLI (`AsyncPublisher` is the asyncio one).

with Publisher("127.0.0.1:50051") as pub:
    pub.publish(users=["alice"], type="order.shipped", data={"order": 42})
"""

from __future__ import annotations

from typing import Any, Self

import grpc

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.client.build import check_address, publish_request

__all__ = ["Publisher"]


class Publisher:
    """One channel, one `Publish` call per `publish()`; errors are `grpc.RpcError`s."""

    def __init__(
        self,
        address: str,
        *,
        token: str | None = None,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        check_address(address)
        if credentials is None:
            self._channel = grpc.insecure_channel(address)
        else:
            self._channel = grpc.secure_channel(address, credentials)
        self._stub = pb_grpc.NotificationGatewayStub(self._channel)  # type: ignore[no-untyped-call]
        self._metadata = [("authorization", f"Bearer {token}")] if token else []

    def publish(self, timeout: float = 10.0, **fields: Any) -> pb.PublishResponse:
        request = publish_request(**fields)
        response: pb.PublishResponse = self._stub.Publish(
            request, timeout=timeout, metadata=self._metadata
        )
        return response

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
