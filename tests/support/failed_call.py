"""A failed gRPC call, as the client sees it, without a transport."""

from __future__ import annotations

import grpc


class FailedCall(grpc.RpcError):  # type: ignore[misc]
    """What a failed gRPC call raises: a status code, details and trailing metadata."""

    def __init__(
        self,
        code: grpc.StatusCode,
        details: str = "boom",
        trailer: tuple[tuple[str, bytes], ...] = (),
    ) -> None:
        self._code, self._details, self._trailer = code, details, trailer

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        return self._trailer
