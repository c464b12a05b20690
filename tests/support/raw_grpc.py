"""gRPC spoken by hand over one HTTP/2 connection (the h2 library), for requests that no gRPC
client would send: wrong length prefixes, the compressed flag without an encoding, streams that
never finish."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions

READ_BYTES = 65536


def frame(message: bytes, *, compressed: bool = False, announced: int | None = None) -> bytes:
    """A gRPC length-prefixed message; ``announced`` lies about its length."""
    length = len(message) if announced is None else announced
    return struct.pack(">?I", compressed, length) + message


@dataclass
class Answer:
    """What the server sent on one stream."""

    headers: dict[str, str] = field(default_factory=dict)
    data: bytes = b""
    ended: bool = False
    reset: bool = False

    @property
    def grpc_status(self) -> int | None:
        """The grpc-status trailer (or header, for a trailers-only answer)."""
        value = self.headers.get("grpc-status")
        return None if value is None else int(value)


class RawConnection:
    """One client HTTP/2 connection to a gRPC server."""

    def __init__(self, target: str, timeout: float = 10.0) -> None:
        host, _, port = target.rpartition(":")
        self._socket = socket.create_connection((host, int(port)), timeout=timeout)
        self._target = target
        self._h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        self._h2.initiate_connection()
        self._flush()
        self.answers: dict[int, Answer] = {}
        self._settings_received = False
        self.goaway = False
        """Whether the server has sent GOAWAY (the connection reads nothing more after it)."""

    def close(self) -> None:
        """Close the socket."""
        self._socket.close()

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def max_streams(self) -> int:
        """The server's SETTINGS_MAX_CONCURRENT_STREAMS for this connection."""
        return int(self._h2.remote_settings.max_concurrent_streams)

    def start(self, path: str, extra_headers: dict[str, str] | None = None) -> int:
        """Open a stream for a gRPC call to ``path``; returns its id."""
        stream_id: int = self._h2.get_next_available_stream_id()
        headers = {
            ":method": "POST",
            ":scheme": "http",
            ":path": path,
            ":authority": self._target,
            "content-type": "application/grpc",
            "te": "trailers",
            **(extra_headers or {}),
        }
        self._h2.send_headers(stream_id, list(headers.items()))
        self.answers[stream_id] = Answer()
        self._flush()
        return stream_id

    def send(self, stream_id: int, data: bytes, *, end: bool) -> None:
        """Send data on a stream, ending it or not."""
        self._h2.send_data(stream_id, data, end_stream=end)
        self._flush()

    def call(self, path: str, data: bytes, extra_headers: dict[str, str] | None = None) -> Answer:
        """A whole call: headers, ``data`` (already framed), end of stream; the answer."""
        stream_id = self.start(path, extra_headers)
        self.send(stream_id, data, end=True)
        while not self.answers[stream_id].ended:
            self.receive()
        return self.answers[stream_id]

    def settle(self) -> None:
        """Read until the server's SETTINGS have arrived."""
        while not self._settings_received and self._receive_some():
            pass

    def read_until_closed(self) -> None:
        """Read (and note) everything until the server ends the connection."""
        while self._receive_some():
            pass

    def receive(self) -> None:
        """Read what the server sent and note it per stream."""
        if not self._receive_some():
            raise ConnectionError("the server closed the connection")

    def _receive_some(self) -> bool:
        chunk = self._socket.recv(READ_BYTES)
        if not chunk or self.goaway:
            return False
        try:
            events = self._h2.receive_data(chunk)
        except h2.exceptions.ProtocolError:  # frames after the server's GOAWAY
            self.goaway = True
            return False
        for event in events:
            answer = self.answers.get(getattr(event, "stream_id", 0))
            if isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
                if answer is not None:
                    answer.headers.update(dict(event.headers))  # type: ignore[arg-type]
            elif isinstance(event, h2.events.DataReceived):
                if answer is not None:
                    answer.data += event.data
                self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded) and answer is not None:
                answer.ended = True
            elif isinstance(event, h2.events.StreamReset) and answer is not None:
                answer.ended = answer.reset = True
            elif isinstance(event, h2.events.RemoteSettingsChanged):
                self._settings_received = True
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.goaway = True
        self._flush()
        return True

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data:
            self._socket.sendall(data)
