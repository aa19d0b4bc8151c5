"""The audit trail on a real broker process: one hash chain with signed checkpoints, verified
by `broker admin audit verify`, which finds an edited, removed, reordered and replaced row on
SQLite and on Postgres; JSON lines for shippers; and it fails closed when it cannot be written."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from broker.core.audit import chain_hash
from broker.store import records
from broker.store.records import DATETIME
from broker.store.sql.schema import audit_events
from broker_client import keys
from tests.e2e.harness import BrokerProcess, wait_for
from tests.store import postgres


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[postgres.PostgresServer]:
    """This module's PostgreSQL server (fails the tests if it cannot start)."""
    server = postgres.start_for_pytest()
    yield server
    server.stop()


@dataclasses.dataclass
class Audited:
    """A running broker, the URL of its SQL store, and where its JSON lines go."""

    proc: BrokerProcess
    url: str
    lines: Path


@contextmanager
def running(request: pytest.FixtureRequest, tmp_path: Path, checkpoint_interval: str) -> Iterator[Audited]:
    """A broker on SQLite or on a fresh Postgres database (the test's parameter), its scheduler
    ticking every second."""
    data = tmp_path / "data"
    if request.param == "sqlite":
        url = f"sqlite:///{data / 'broker.db'}"
        store: dict[str, str] = {}
    else:
        pg: postgres.PostgresServer = request.getfixturevalue("postgres_server")
        url = pg.create_database()
        store = {"BROKER_STORE_URL": url}
    lines = tmp_path / "audit.jsonl"
    env = {
        **store,
        "BROKER_SCHEDULER_TICK": "1s",
        "BROKER_AUDIT_CHECKPOINT_INTERVAL": checkpoint_interval,
        "BROKER_AUDIT_LOG": str(lines),
    }
    proc = BrokerProcess(data, env=env)
    proc.start()
    try:
        yield Audited(proc, url, lines)
    finally:
        proc.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def audited(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Audited]:
    """A broker signing a checkpoint every second the chain grows."""
    with running(request, tmp_path, "1s") as value:
        yield value


@pytest.fixture(params=["sqlite", "postgres"])
def quiet(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Audited]:
    """A broker that signs one checkpoint at its first tick and no other for an hour."""
    with running(request, tmp_path, "1h") as value:
        yield value


def engine(url: str) -> sa.Engine:
    """A plain engine on the store's database: the "someone with write access" of these tests."""
    return sa.create_engine(url, poolclass=NullPool)


def verify(proc: BrokerProcess) -> tuple[int, str, dict[int, set[str]]]:
    """`broker admin audit verify`: exit status, output, and the problems it names by seq."""
    result = proc.cli("admin", "audit", "verify", check=False)
    found: dict[int, set[str]] = {}
    for seq, message in re.findall(r"^PROBLEM seq (\d+): (.*)$", result.stdout, re.M):
        found.setdefault(int(seq), set()).add(message)
    return result.returncode, result.stdout + result.stderr, found


def fill(proc: BrokerProcess, n: int) -> None:
    """``n`` granted exchanges (one audit event each), then a signed checkpoint after them."""
    admin = keys.load_private_key(proc.admin_key)
    for _ in range(n):
        proc.exchange("admin", admin)
    seen = len(proc.audit_events("action=audit.checkpoint"))
    wait_for(lambda: len(proc.audit_events("action=audit.checkpoint")) > seen, 15, "a new checkpoint")


def test_an_untouched_chain_verifies_and_matches_the_json_lines(audited: Audited) -> None:
    """Every exchange is one chained event; verify says intact with checkpoints; the JSON lines
    carry the same chain and never a token."""
    proc = audited.proc
    admin = keys.load_private_key(proc.admin_key)
    token = proc.exchange("admin", admin).access_token
    fill(proc, 3)
    status, output, problems = verify(proc)
    assert status == 0 and problems == {}, output
    assert "chain intact" in output and re.search(r"checkpoints verified [1-9]", output), output
    granted = proc.audit_events("action=token.exchange outcome=success")
    assert len(granted) >= 4 and granted[0].actor == "admin" and granted[0].client_address.startswith("ipv")
    assert granted[0].replica and len(granted[0].hash) == 64 and granted[0].subject == "admin"

    shipped = [json.loads(line) for line in audited.lines.read_text().splitlines()]
    assert [e["seq"] for e in shipped] == list(range(shipped[0]["seq"], shipped[0]["seq"] + len(shipped)))
    assert all(later["prev_hash"] == earlier["hash"] for earlier, later in itertools.pairwise(shipped))
    assert token not in audited.lines.read_text()
    for line in shipped:  # each line carries what its hash covers: checkable without the store
        covered = json.dumps({k: v for k, v in line.items() if k != "hash"}, sort_keys=True, separators=(",", ":"),
                             ensure_ascii=False)  # fmt: skip
        assert hashlib.sha256(covered.encode()).hexdigest() == line["hash"]
    exported = [json.loads(line) for line in proc.cli("admin", "audit", "export").stdout.splitlines()]
    assert [e["hash"] for e in exported][: len(shipped)] == [e["hash"] for e in shipped]


def test_verify_names_an_edited_a_removed_a_reordered_and_a_replaced_event(quiet: Audited) -> None:
    """Four kinds of tampering, each at its own place in the chain, each reported there; exit 1."""
    proc = quiet.proc
    admin = keys.load_private_key(proc.admin_key)
    wait_for(lambda: bool(proc.audit_events("action=audit.checkpoint")), 15, "the first checkpoint")
    for _ in range(24):
        proc.exchange("admin", admin)
    first = max(e.seq for e in proc.audit_events("action=audit.checkpoint")) + 3  # clear of the checkpoint
    edit, remove, swap, replace = first, first + 4, first + 8, first + 13
    db = engine(quiet.url)
    try:
        with db.begin() as conn:
            rows = {r.seq: r for r in conn.execute(sa.select(audit_events))}
            assert replace + 1 in rows
            conn.execute(sa.update(audit_events).where(audit_events.c.seq == edit).values(outcome="failure"))
            conn.execute(sa.delete(audit_events).where(audit_events.c.seq == remove))
            conn.execute(sa.update(audit_events).where(audit_events.c.seq == swap).values(seq=-1))
            conn.execute(sa.update(audit_events).where(audit_events.c.seq == swap + 1).values(seq=swap))
            conn.execute(sa.update(audit_events).where(audit_events.c.seq == -1).values(seq=swap + 1))
            # replaced whole, its own hash and its link to the one before made right by the forger
            original = records.audit_from_record(rows[replace]._mapping, DATETIME)
            forged = dataclasses.replace(original, actor="someone-else", prev_hash=rows[replace - 1].hash)
            forged = dataclasses.replace(forged, hash=chain_hash(forged))
            conn.execute(sa.delete(audit_events).where(audit_events.c.seq == replace))
            conn.execute(sa.insert(audit_events).values(records.audit_fields(forged, DATETIME)))
    finally:
        db.dispose()

    status, output, problems = verify(proc)
    assert status == 1 and "the audit chain is broken" in output, output
    assert problems[edit] == {f"event {edit} ({rows[edit].id}) no longer matches its hash: edited"}, output
    assert problems[remove] == {f"event {remove} missing: removed"}, output
    assert {swap, swap + 1, swap + 2} <= set(problems), output  # both moved, and the one after no longer follows
    assert problems[replace + 1] == {f"event {replace + 1} does not follow event {replace}: inserted or moved"}
    assert set(problems) == {edit, remove, swap, swap + 1, swap + 2, replace + 1}, output


def test_a_failed_audit_write_fails_the_exchange_closed_and_it_recovers_by_itself(
    postgres_server: postgres.PostgresServer, tmp_path: Path
) -> None:
    """The store refuses audit rows (a disk-full trigger): exchanges fail UNAVAILABLE and hand out
    nothing; once audit rows are accepted again the same process grants them, no restart."""
    url = postgres_server.create_database()
    proc = BrokerProcess(tmp_path / "data", env={"BROKER_STORE_URL": url})
    proc.start()
    db = engine(url)
    try:
        admin = keys.load_private_key(proc.admin_key)
        with db.begin() as conn:
            conn.execute(
                sa.text(
                    "CREATE FUNCTION audit_full() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'could not extend file' USING ERRCODE = '53100'; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                sa.text(
                    "CREATE TRIGGER audit_full BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_full()"
                )
            )
        with pytest.raises(grpc.RpcError) as refused:
            proc.exchange("admin", admin)
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
        assert refused.value.details() == "store unavailable"
        with db.begin() as conn:
            conn.execute(sa.text("DROP TRIGGER audit_full ON audit_events"))
        assert proc.exchange("admin", admin).access_token
        status, output, _ = verify(proc)
        assert status == 0, output
    finally:
        db.dispose()
        proc.stop()
