"""Closed-loop load generator: N requests in flight from separate processes, for a fixed time.

Each worker process owns ``in_flight // processes`` tasks, each on its own channel, that
send back-to-back requests until the deadline, recording every latency. Requests are
prepared before the clock starts (for ExchangeToken: one fresh self-signed assertion per
request, since each jti is single-use), so the generator's own CPU is not measured.

Over the same window it reads the CPU time of the server (its process and children) and
of the whole machine, so a row says where the CPU went: the server's CPU per request,
and how many of the machine's cores were busy (server and load generator together).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import psutil

Payloads = Callable[[int], list[bytes]]


@dataclass(frozen=True)
class RunResult:
    """What one timed run measured."""

    in_flight: int
    seconds: float
    ok: int
    errors: int
    latencies_ms: list[float]
    #: CPU seconds of the server's processes and of the whole machine, over ``window`` seconds
    #: (the run plus its connection set-up and hand-back).
    server_cpu: float
    machine_cpu: float
    window: float

    @property
    def rate(self) -> float:
        return self.ok / self.seconds

    @property
    def server_cpu_ms_per_call(self) -> float:
        return self.server_cpu / self.ok * 1000 if self.ok else float("nan")

    @property
    def cores_busy(self) -> float:
        return self.machine_cpu / self.window

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


def _server_cpu(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` and its living descendants."""
    root = psutil.Process(pid)
    total = 0.0
    for proc in (root, *root.children(recursive=True)):
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _machine_cpu() -> float:
    """CPU seconds the whole machine spent busy (every core, anything not idle)."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def run(
    target: str,
    method: str,
    make: Payloads,
    *,
    in_flight: int,
    seconds: float,
    processes: int,
    per_second_cap: int,
    server_pid: int,
) -> RunResult:
    """Drive ``target`` (served by process ``server_pid``) with ``in_flight`` concurrent requests for ``seconds``.

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
    server_start, machine_start = _server_cpu(server_pid), _machine_cpu()
    results = [out.get(timeout=seconds + 120) for _ in workers]
    server_end, machine_end = _server_cpu(server_pid), _machine_cpu()
    elapsed = time.perf_counter() - begin
    for p in workers:
        p.join(30)
    return RunResult(
        in_flight=in_flight,
        seconds=min(elapsed, seconds),
        ok=sum(r[0] for r in results),
        errors=sum(r[1] for r in results),
        latencies_ms=[x for r in results for x in r[2]],
        server_cpu=server_end - server_start,
        machine_cpu=machine_end - machine_start,
        window=elapsed,
    )
