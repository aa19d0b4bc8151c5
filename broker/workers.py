"""Several serving processes on one gRPC port (``BROKER_WORKERS`` > 1).

One Python process serves its RPCs on one core at a time (the GIL). With N workers the
broker runs N processes that accept on the same gRPC port (``SO_REUSEPORT``: the kernel
spreads new connections over them). Each is a full replica on the shared store, the
model of "several replicas" (DESIGN.md): its own keyring refreshed from the store,
identity cache, replay writer and scheduler, with one leader lease between them.

The process started by ``broker serve`` is the primary. It migrates the store and writes
the admin key before any worker starts, alone serves HTTP (JWKS, discovery, health,
``/metrics``), stops the workers when it stops, and stops everything with exit status 1
when a worker dies. A worker stops when the primary is gone.

``/metrics`` adds every process's counters up: prometheus_client's multiprocess mode,
in a private temporary directory (``shared_metrics``) that lives as long as the primary.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, values
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

_METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def shared_metrics() -> Iterator[Path]:
    """Record metrics in files every process of this broker writes to; removed on exit.

    Call before any metric is created; the workers inherit the directory through the
    environment and so record into it from their first metric on.
    """
    path = Path(tempfile.mkdtemp(prefix="broker-metrics-"))
    os.environ[_METRICS_DIR] = str(path)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def exposed_registry(own: CollectorRegistry, *process_state: Collector) -> CollectorRegistry:
    """What ``/metrics`` shows: every process's metrics when they are shared (and this
    process's ``process_state`` gauges, read at scrape time), else ``own``."""
    path = os.environ.get(_METRICS_DIR)
    if not path:
        return own
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    for collector in process_state:
        registry.register(collector)
    return registry


def parent_sentinel() -> int | None:
    """In a worker: a file descriptor that becomes readable when the primary is gone."""
    parent = multiprocessing.parent_process()
    return parent.sentinel if parent is not None else None


class WorkerPool:
    """The primary's N-1 worker processes: start, watch, stop."""

    def __init__(self, target: Callable[..., Any], args: tuple[Any, ...], count: int) -> None:
        """``target(*args, index, serving)`` runs in each new process (spawned, not forked:
        gRPC's threads do not survive a fork) and calls ``serving()`` once it serves."""
        context = multiprocessing.get_context("spawn")
        self._serving = [context.Event() for _ in range(1, count)]
        self._procs: list[BaseProcess] = [
            context.Process(target=target, args=(*args, index, serving.set), name=f"broker-worker-{index}")
            for index, serving in enumerate(self._serving, start=1)
        ]
        self._stopping = False

    def serving(self) -> bool:
        """Whether every worker has said it serves."""
        return all(event.is_set() for event in self._serving)

    def start(self) -> None:
        """Start every worker."""
        for proc in self._procs:
            proc.start()

    def watch(self, loop: asyncio.AbstractEventLoop, on_death: Callable[[str], None]) -> None:
        """Call ``on_death(reason)`` on the loop when a worker ends while the pool is not stopping."""
        for proc in self._procs:
            loop.add_reader(proc.sentinel, self._ended, loop, proc, on_death)

    def _ended(self, loop: asyncio.AbstractEventLoop, proc: BaseProcess, on_death: Callable[[str], None]) -> None:
        loop.remove_reader(proc.sentinel)
        proc.join()
        if not self._stopping:
            on_death(f"{proc.name} exited with status {proc.exitcode}")

    def terminate(self) -> None:
        """Ask every worker to shut down gracefully (SIGTERM)."""
        self._stopping = True
        for proc in self._procs:
            if proc.is_alive():
                proc.terminate()

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the workers, then kill what is left."""
        self.terminate()
        deadline = time.monotonic() + timeout
        for proc in self._procs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join()
