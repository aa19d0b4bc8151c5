"""Closed-loop load generator: N requests in flight from separate processes, for a fixed time.

Each worker process owns one grpc.aio channel and ``in_flight // processes`` tasks that
send back-to-back requests until the deadline, recording every latency. Requests are
prepared before the clock starts (for ExchangeToken: one fresh self-signed assertion per
request, since each jti is single-use), so the generator's own CPU is not measured.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc

Payloads = Callable[[int], list[bytes]]


@dataclass(frozen=True)
class RunResult:
    """What one timed run measured."""

    in_flight: int
    seconds: float
    ok: int
    errors: int
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.ok / self.seconds

    def percentile(self, q: float) -> float:
        data = sorted(self.latencies_ms)
        if not data:
            return float("nan")
        return data[min(len(data) - 1, int(q * len(data)))]


async def _worker(
    target: str, method: str, payloads: list[bytes], tasks: int, seconds: float
) -> tuple[int, int, list[float]]:
    ok = errors = 0
    latencies: list[float] = []
    channels = [
        grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(tasks)
    ]
    try:
        for channel in channels:
            await channel.channel_ready()
        it = iter(payloads)
        deadline = time.perf_counter() + seconds

        async def loop(channel: grpc.aio.Channel) -> None:
            call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
            nonlocal ok, errors
            while True:
                payload = next(it, None)
                start = time.perf_counter()
                if payload is None or start >= deadline:
                    return
                try:
                    await call(payload, timeout=10)
                    ok += 1
                    latencies.append((time.perf_counter() - start) * 1000)
                except grpc.aio.AioRpcError:
                    errors += 1

        await asyncio.gather(*(loop(channel) for channel in channels))
    finally:
        for channel in channels:
            await channel.close()
    return ok, errors, latencies


def _process(
    target: str, method: str, make: Payloads, count: int, tasks: int, seconds: float, ready: object, out: object
) -> None:
    payloads = make(count)
    ready.wait()  # type: ignore[attr-defined]
    out.put(asyncio.run(_worker(target, method, payloads, tasks, seconds)))  # type: ignore[attr-defined]


def run(
    target: str, method: str, make: Payloads, *, in_flight: int, seconds: float, processes: int, per_second_cap: int
) -> RunResult:
    """Drive ``target`` with ``in_flight`` concurrent requests for ``seconds``.

    ``make(count)`` builds each process's payloads before the common start;
    ``per_second_cap`` sizes them (a run stops early if a process runs out).
    """
    procs = min(processes, in_flight)
    ctx = mp.get_context("spawn")
    ready = ctx.Barrier(procs + 1)
    out = ctx.Queue()
    count = int(per_second_cap * seconds / procs) + 100
    workers = []
    for n in range(procs):
        tasks = in_flight // procs + (1 if n < in_flight % procs else 0)
        p = ctx.Process(target=_process, args=(target, method, make, count, tasks, seconds, ready, out))
        p.start()
        workers.append(p)
    ready.wait(timeout=600)
    begin = time.perf_counter()
    results = [out.get(timeout=seconds + 120) for _ in workers]
    elapsed = time.perf_counter() - begin
    for p in workers:
        p.join(30)
    return RunResult(
        in_flight=in_flight,
        seconds=min(elapsed, seconds),
        ok=sum(r[0] for r in results),
        errors=sum(r[1] for r in results),
        latencies_ms=[x for r in results for x in r[2]],
    )
