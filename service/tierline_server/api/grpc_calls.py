"""Calls as gRPC itself counts them (channelz), for the calls the call guard never sees.

gRPC ends some calls before any handler runs: a call whose deadline passes while it waits for
the worker's event loop (a burst larger than the worker can take in time) is answered
DEADLINE_EXCEEDED by gRPC's core, and tierline_rpcs_total never hears of it. Channelz counts
every call the process's gRPC servers started and how each ended. A worker copies those counts
into tierline_grpc_calls_total (by result: started, succeeded, failed); calls started minus the
calls the guard counted are those gRPC ended on its own (health checks aside).
"""

from __future__ import annotations

from grpc_channelz.v1 import channelz, channelz_pb2
from prometheus_client import Counter

from tierline_server.metrics import GRPC_CALL_RESULTS


class GrpcCalls:
    """Copies channelz's call counts of this process's gRPC servers into a counter."""

    def __init__(self, counter: Counter) -> None:
        """``counter``: labelled by result (GRPC_CALL_RESULTS)."""
        self._counters = {result: counter.labels(result) for result in GRPC_CALL_RESULTS}
        self._seen = dict.fromkeys(GRPC_CALL_RESULTS, 0)

    def update(self) -> None:
        """Add what channelz counted since the last update."""
        totals = channelz_totals()
        if totals is None:
            return
        for result, total in totals.items():
            # A server that stopped takes its counts with it: never count backwards.
            if total > self._seen[result]:
                self._counters[result].inc(total - self._seen[result])
            self._seen[result] = total


def channelz_totals() -> dict[str, int] | None:
    """Calls started, succeeded and failed, summed over every gRPC server of this process;
    None if channelz's answer could not be read."""
    totals = dict.fromkeys(GRPC_CALL_RESULTS, 0)
    start = 0
    while True:
        request = channelz_pb2.GetServersRequest(start_server_id=start)
        page = channelz.ChannelzServicer.GetServers(request, _Unread())
        if page is None:  # channelz's JSON did not parse: GetServers told the context
            return None
        for server in page.server:
            totals["started"] += server.data.calls_started
            totals["succeeded"] += server.data.calls_succeeded
            totals["failed"] += server.data.calls_failed
            start = max(start, server.ref.server_id + 1)
        if page.end or not page.server:
            return totals


class _Unread:
    """The context GetServers reports a failure on (as a servicer would); the None it then
    returns says enough here."""

    def set_code(self, code: object) -> None:
        """Ignored."""

    def set_details(self, details: str) -> None:
        """Ignored."""
