"""A bare Python gRPC echo server: the ceiling for Python gRPC on this machine.

One unary method, ``/bench.Echo/Decide``, answers the same canned bytes to every call, with no
(de)serializers: nothing is parsed, nothing decided. Run by the same Python and grpcio as
Tierline, it tells what gRPC itself costs under each process model:

    --mode aio    grpc.aio server on an event loop (--loop asyncio, or uvloop)
    --mode sync   grpc.server on a thread pool of --threads threads
    --processes N N processes sharing the port (SO_REUSEPORT; the kernel spreads connections)
    --pin         process i runs on CPU i only (os.sched_setaffinity)

Each serving process prints ``serving PID`` on stdout once it accepts calls. It runs until
SIGTERM or SIGINT.

    python bench/echo_server.py --port 50099 --answer answer.bin --mode sync --threads 4 \\
        --processes 2 --pin
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

SERVICE = "bench.Echo"
METHOD = f"/{SERVICE}/Decide"
MODES = ("aio", "sync")
LOOPS = ("asyncio", "uvloop")
READY = "serving"
"""First word of the line each serving process prints once it accepts calls."""
OPTIONS = [("grpc.so_reuseport", 1)]
"""Explicit, though gRPC sets it on Linux by default: N processes must share the port."""


def handler(answer: bytes, *, is_async: bool) -> grpc.GenericRpcHandler:
    """``bench.Echo/Decide`` answering ``answer`` (raw bytes in and out)."""

    async def decide_async(request: bytes, context: Any) -> bytes:
        return answer

    def decide(request: bytes, context: Any) -> bytes:
        return answer

    method = grpc.unary_unary_rpc_method_handler(decide_async if is_async else decide)
    return grpc.method_handlers_generic_handler(SERVICE, {"Decide": method})


def announce() -> None:
    """Tell the parent this process accepts calls: in one write, which a pipe keeps whole (print
    may write the line and its end apart, and the processes of a model start at once)."""
    sys.stdout.flush()
    os.write(sys.stdout.fileno(), f"{READY} {os.getpid()}\n".encode())


async def serve_aio(address: str, answer: bytes) -> None:
    """A grpc.aio server on the running event loop, until SIGTERM / SIGINT."""
    server = grpc.aio.server(options=OPTIONS)
    server.add_generic_rpc_handlers((handler(answer, is_async=True),))
    server.add_insecure_port(address)
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    announce()
    await stopping.wait()
    await server.stop(None)


def serve_sync(address: str, handlers: grpc.GenericRpcHandler, threads: int) -> None:
    """A grpc.server serving ``handlers`` on a pool of ``threads`` threads, until SIGTERM /
    SIGINT (bench/sync_model.py serves Decide itself this way)."""
    server = grpc.server(
        concurrent.futures.ThreadPoolExecutor(max_workers=threads), options=OPTIONS
    )
    server.add_generic_rpc_handlers((handlers,))
    server.add_insecure_port(address)
    server.start()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: server.stop(None))
    announce()
    server.wait_for_termination()


def pin(index: int) -> None:
    """Run this process on one CPU only: the ``index``-th of those it may use (wrapping)."""
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[index % len(cpus)]})


def serve(args: argparse.Namespace, index: int) -> None:
    """Be serving process number ``index``."""
    if args.pin:
        pin(index)
    address = f"127.0.0.1:{args.port}"
    answer = args.answer.read_bytes() if args.answer else b""
    if args.mode == "sync":
        serve_sync(address, handler(answer, is_async=False), args.threads)
    elif args.loop == "uvloop":
        import uvloop  # only this variant needs it (the bench extra installs it)

        uvloop.run(serve_aio(address, answer))
    else:
        asyncio.run(serve_aio(address, answer))


def supervise(argv: Sequence[str], processes: int, script: str = __file__) -> int:
    """Start ``processes`` copies of ``script`` (this one, or another bench server) as serving
    processes, each given ``argv`` and its ``--index``; stop them on a signal."""
    children = [
        subprocess.Popen([sys.executable, script, *argv, "--index", str(index)])
        for index in range(processes)
    ]

    def stop(*_: object) -> None:
        for child in children:
            child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return max(child.wait() for child in children)


def positive(text: str) -> int:
    """An integer of at least 1 (processes, threads)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line (``--index`` is for the serving processes a supervisor starts)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="loopback port to listen on")
    parser.add_argument("--answer", type=Path, help="file whose bytes every call answers")
    parser.add_argument("--mode", choices=MODES, default="aio", help="server model")
    parser.add_argument("--loop", choices=LOOPS, default="asyncio", help="event loop (aio)")
    parser.add_argument("--threads", type=positive, default=4, help="thread pool size (sync)")
    parser.add_argument("--processes", type=positive, default=1, help="processes on the port")
    parser.add_argument("--pin", action="store_true", help="pin process i to CPU i")
    parser.add_argument("--index", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve (one process), or supervise ``--processes`` serving processes."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.index is None and args.processes > 1:
        return supervise(argv, args.processes)
    serve(args, args.index or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
