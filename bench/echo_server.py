"""The baseline: a bare grpc.aio server whose one unary method returns its request bytes.

``python -m bench.echo_server PORT [PROCESSES]`` prints "ready" once every process
listens; several processes share the port through SO_REUSEPORT, as the broker's workers
do, and the extra ones end with the first.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import sys
from collections.abc import Callable
from functools import partial

import grpc

METHOD = "/bench.Echo/Echo"


async def _echo(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    return request


async def serve(port: int, reuse_port: bool, listening: Callable[[], object]) -> None:
    """Serve until SIGTERM (in an extra process: until the first one is gone)."""
    server = grpc.aio.server(options=[("grpc.so_reuseport", int(reuse_port))])
    handler = grpc.method_handlers_generic_handler("bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(_echo)})
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    listening()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    parent = multiprocessing.parent_process()
    if parent is not None:
        loop.add_reader(parent.sentinel, stop.set)
    else:  # a clean exit, so the workers' events (semaphores) are released
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(None)


def _serve(port: int, reuse_port: bool, listening: Callable[[], object]) -> None:
    asyncio.run(serve(port, reuse_port, listening))


def main() -> None:
    port, processes = int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1
    context = multiprocessing.get_context("spawn")
    events = [context.Event() for _ in range(processes - 1)]
    for listening in events:
        context.Process(target=_serve, args=(port, True, listening.set), daemon=True).start()
    for listening in events:
        listening.wait(60)
    _serve(port, processes > 1, partial(print, "ready", flush=True))


if __name__ == "__main__":
    main()
