"""``make bench``: ExchangeToken throughput and latency against a bare gRPC echo, same run.

Runs, for each in-flight level (default 1, 16, 64), a closed-loop load from separate
processes for ``--seconds`` (default 10) against:

1. the bare grpc.aio echo server (bench/echo_server.py): the baseline, in one process
   and in ``--workers`` processes sharing the port;
2. ``broker serve`` on embedded SQLite: ExchangeToken with a fresh self-signed ES256
   assertion per request (so every call writes its replay record), with one process
   and with ``BROKER_WORKERS=--workers``;
3. the same on PostgreSQL (a server this run starts), unless ``--no-postgres``;
4. people (unless ``--no-logins``): Login with the Argon2id profile (logins/s and server
   CPU per login, so logins per core-second), and ExchangeToken at 16 in flight alone and
   while a flood of logins (16 in flight) runs against the same broker.

Prints tokens/s, p50, p99 and errors, each rate as a ratio of the one-process echo's at
the same in-flight level, and where the CPU went: the server's CPU time per request
(its processes only; PostgreSQL's own is not in it) and the cores busy machine-wide.
"""

from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bench import loadgen, payloads
from bench.echo_server import METHOD as ECHO_METHOD
from broker_client.v1 import identity_pb2, identity_pb2_grpc
from tests.e2e.harness import BrokerProcess, free_port
from tests.store.postgres import PostgresServer

EXCHANGE_METHOD = "/broker.v1.TokenService/ExchangeToken"
LOGIN_METHOD = "/broker.v1.AuthService/Login"
PERSON, PASSWORD = "bench-person", "a benchmark passphrase"


def _run_levels(
    name: str, target: str, method: str, make: loadgen.Payloads, args: argparse.Namespace, cap: int, server_pid: int
) -> list[dict[str, object]]:
    rows = []
    for level in args.in_flight:
        result = loadgen.run(
            target,
            method,
            make,
            in_flight=level,
            seconds=args.seconds,
            processes=args.processes,
            per_second_cap=cap,
            server_pid=server_pid,
        )
        rows.append(
            {
                "target": name,
                "in_flight": level,
                "rate": round(result.rate, 1),
                "p50_ms": round(result.percentile(0.50), 2),
                "p99_ms": round(result.percentile(0.99), 2),
                "ok": result.ok,
                "errors": result.errors,
                "server_cpu_ms": round(result.server_cpu_ms_per_call, 3),
                "cores_busy": round(result.cores_busy, 2),
            }
        )
        print(
            f"  {name:<16} in-flight {level:>3}: {result.rate:8.0f}/s  p50 {rows[-1]['p50_ms']:6} ms  "
            f"p99 {rows[-1]['p99_ms']:6} ms  errors {result.errors}  "
            f"server CPU {result.server_cpu_ms_per_call:.2f} ms/call  {result.cores_busy:.2f} cores busy",
            flush=True,
        )
    return rows


def _echo(name: str, processes: int, args: argparse.Namespace) -> list[dict[str, object]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.echo_server", str(port), str(processes)], stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        return _run_levels(name, f"127.0.0.1:{port}", ECHO_METHOD, payloads.echo, args, cap=20000, server_pid=proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)


#: One identity from one address at full speed: the rate limits would measure themselves.
UNLIMITED = {"BROKER_RATE_LIMIT_EXCHANGE": "off", "BROKER_RATE_LIMIT_ADDRESS": "off"}


def _broker(name: str, data_dir: Path, args: argparse.Namespace, env: dict[str, str]) -> list[dict[str, object]]:
    proc = BrokerProcess(data_dir, env={**UNLIMITED, **env})
    proc.start()
    try:
        make = _bench_identity(proc)
        assert proc.proc is not None
        return _run_levels(name, proc.addr, EXCHANGE_METHOD, make, args, cap=6000, server_pid=proc.proc.pid)
    finally:
        proc.stop()


def _bench_identity(proc: BrokerProcess) -> loadgen.Payloads:
    """Create the bench identity with a fresh key; the payload maker of its exchanges."""
    private = ec.generate_private_key(ec.SECP256R1())
    public = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with proc.channel() as channel:
        identity_pb2_grpc.IdentityServiceStub(channel).CreateIdentity(
            identity_pb2.CreateIdentityRequest(
                identity=identity_pb2.Identity(
                    id=payloads.IDENTITY,
                    kind=identity_pb2.IDENTITY_KIND_SERVICE_ACCOUNT,
                    allowed_scopes=[payloads.SCOPE],
                    public_keys=[identity_pb2.PublicKey(jwk_json=public)],
                )
            ),
            metadata=tuple(proc.admin_metadata()),
        )
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return functools.partial(payloads.exchange, pem=pem, issuer=proc.issuer)


def _logins(data_dir: Path, args: argparse.Namespace) -> list[str]:
    """Logins per core-second, and ExchangeToken alone against during a login flood; report lines."""
    proc = BrokerProcess(data_dir, env=UNLIMITED)
    proc.start()
    try:
        exchange = _bench_identity(proc)
        proc.cli("admin", "user", "create", PERSON, "--password-stdin", input=f"{PASSWORD}\n")
        login = functools.partial(payloads.login, username=PERSON, password=PASSWORD)
        assert proc.proc is not None
        pid = proc.proc.pid

        def drive(method: str, make: loadgen.Payloads, in_flight: int, seconds: float) -> loadgen.RunResult:
            return loadgen.run(proc.addr, method, make, in_flight=in_flight, seconds=seconds,
                               processes=1 if method == LOGIN_METHOD else args.processes,
                               per_second_cap=200 if method == LOGIN_METHOD else 6000, server_pid=pid)  # fmt: skip

        logins = drive(LOGIN_METHOD, login, 4, args.seconds)
        alone = drive(EXCHANGE_METHOD, exchange, 16, args.seconds)
        flood: list[loadgen.RunResult] = []
        flooding = threading.Thread(target=lambda: flood.append(drive(LOGIN_METHOD, login, 16, args.seconds + 6)))
        flooding.start()
        time.sleep(3)  # the flood's load process is up and logging in
        during = drive(EXCHANGE_METHOD, exchange, 16, args.seconds)
        flooding.join()
    finally:
        proc.stop()
    cpu = logins.server_cpu_ms_per_call
    per_core = 1000 / cpu if cpu else float("nan")
    ratio = during.rate / alone.rate if alone.rate else float("nan")
    return [
        f"| login (Argon2id m=64 MiB t=3 p=4), 4 in flight | {logins.rate:.1f}/s "
        f"| p99 {logins.percentile(0.99):.0f} ms | server CPU {cpu:.0f} ms/login = {per_core:.1f} logins/core-s |",
        f"| ExchangeToken alone, 16 in flight | {alone.rate:.0f}/s | p99 {alone.percentile(0.99):.1f} ms | 1.00x |",
        f"| ExchangeToken during a login flood ({flood[0].rate:.1f} logins/s, 16 in flight) | {during.rate:.0f}/s "
        f"| p99 {during.percentile(0.99):.1f} ms | {ratio:.2f}x |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--in-flight", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16, 64])
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--workers", type=int, default=2, help="processes of the 'xN' echo and broker rows")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-logins", action="store_true", help="skip the people rows")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()

    print(
        f"bench: {args.seconds:.0f} s per run, in-flight {args.in_flight}, {args.processes} load processes", flush=True
    )
    rows = _echo("grpc echo", 1, args)
    rows += _echo(f"grpc echo x{args.workers}", args.workers, args)
    many = {"BROKER_WORKERS": str(args.workers)}
    with tempfile.TemporaryDirectory() as tmp:
        rows += _broker("broker sqlite", Path(tmp) / "sqlite", args, {})
        rows += _broker(f"broker sqlite x{args.workers}", Path(tmp) / "sqlite-many", args, many)
        if not args.no_postgres:
            pg = PostgresServer()
            pg.start()
            try:
                for name, env in (("broker postgres", {}), (f"broker postgres x{args.workers}", many)):
                    url = pg.create_database()
                    rows += _broker(name, Path(tmp) / name.replace(" ", "-"), args, {"BROKER_STORE_URL": url, **env})
            finally:
                pg.stop()
        people = [] if args.no_logins else _logins(Path(tmp) / "people", args)

    echo = {r["in_flight"]: r for r in rows if r["target"] == "grpc echo"}
    print("\n| target | in flight | tokens/s | p50 ms | p99 ms | errors | vs echo | server CPU ms/call | cores busy |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        base = echo[r["in_flight"]]["rate"]
        ratio = float(r["rate"]) / float(base) if base else float("nan")  # type: ignore[arg-type]
        cells = [
            r["target"],
            r["in_flight"],
            f"{r['rate']:.0f}",
            r["p50_ms"],
            r["p99_ms"],
            r["errors"],
            f"{ratio:.2f}x",
            f"{r['server_cpu_ms']:.2f}",
            f"{r['cores_busy']:.2f}",
        ]
        print("| " + " | ".join(str(c) for c in cells) + " |")
    if people:
        print("\n| people | rate | latency | vs alone, or CPU |\n|---|---:|---:|---:|")
        print("\n".join(people))
    if args.json:
        args.json.write_text(
            json.dumps({"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": rows}, indent=2)
        )


if __name__ == "__main__":
    main()
