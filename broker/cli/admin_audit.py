"""``broker admin audit list|export|verify``: read the audit trail and check its hash chain."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format

from broker_client.v1 import audit_pb2, audit_pb2_grpc

from ._common import AdminMetadata, CliError, admin_runner, parse_delta

_PAGE = 500


def _since(text: str) -> datetime | None:
    """``--since``: a duration back from now (``1h``) or an ISO 8601 time."""
    if not text:
        return None
    if text[-1:].isalpha():
        return datetime.now(UTC) - parse_delta(text)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"--since: {text!r} is neither a duration (1h) nor an ISO 8601 time") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _events(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> Iterator[dict[str, Any]]:
    """Events newest first, as JSON objects, down to ``--since``."""
    since = _since(args.since)
    token = ""
    while True:
        reply = stub.ListAuditEvents(
            audit_pb2.ListAuditEventsRequest(page_size=_PAGE, page_token=token, filter=args.filter), metadata=md()
        )
        for event in reply.events:
            if since is not None and event.event_time.ToDatetime(UTC) < since:
                return
            yield json_format.MessageToDict(event, preserving_proto_field_name=True)
        token = reply.next_page_token
        if not token:
            return


def _list(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    for n, event in enumerate(_events(args, stub, md)):
        if n == args.limit:
            break
        actor, subject = event.get("actor", ""), event.get("subject", "")
        who = f"{actor}{f' (for {subject})' if subject and subject != actor else ''} -> {event.get('target', '')}"
        details = json.dumps(event.get("details", {}), sort_keys=True)
        seq = event.get("seq", "0")
        print(f"{event['event_time']}  {seq:>6}  {event['action']:<18} {event['outcome']:<8} {who}  {details}")


def _export(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    # Chain order, as a log shipper has them: the listing is by time, and two events drafted
    # at once may take their places in the chain in the other order.
    for event in sorted(_events(args, stub, md), key=lambda event: int(event.get("seq", 0))):
        print(json.dumps(event, sort_keys=True, separators=(",", ":")))


def _verify(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    report = stub.VerifyAuditChain(audit_pb2.VerifyAuditChainRequest(), metadata=md(), timeout=args.timeout)
    print(f"events {report.first_seq}..{report.last_seq} ({report.events})")
    if report.first_seq > 1:
        print(f"  events before {report.first_seq} were purged (BROKER_AUDIT_RETENTION)")
    last = report.last_checkpoint_time.ToDatetime(UTC).isoformat() if report.HasField("last_checkpoint_time") else "-"
    print(f"checkpoints verified {report.checkpoints}, last {last}")
    if report.unchecked_checkpoints:
        print(f"  {report.unchecked_checkpoints} signed by retired keys: their signatures were not checked")
    if report.pseudonymized:
        print(f"  {report.pseudonymized} name erased people under pseudonyms (each as its erasure recorded)")
    for problem in report.problems:
        print(f"PROBLEM seq {problem.seq}: {problem.message}")
    if report.problem_count > len(report.problems):
        print(f"... and {report.problem_count - len(report.problems)} more")
    if not report.ok:
        raise CliError(f"the audit chain is broken in {report.problem_count} place(s)")
    print("chain intact")


def register(admin_sub: Any) -> None:
    """Add ``broker admin audit`` and its commands."""
    audit = admin_sub.add_parser("audit", help="read the audit trail and verify its hash chain")
    sub = audit.add_subparsers(dest="admin_audit_command", required=True)
    for name, text, command in (
        ("list", "events, newest first", _list),
        ("export", "events as JSON lines in chain order (oldest first)", _export),
    ):
        parser = sub.add_parser(name, help=text)
        parser.add_argument("--filter", default="", help="e.g. 'action=token.exchange outcome=failure'")
        parser.add_argument("--since", default="", help="a duration back from now (1h, 7d) or an ISO 8601 time")
        if name == "list":
            parser.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
        parser.set_defaults(run=admin_runner(audit_pb2_grpc.AuditServiceStub, command))
    verify = sub.add_parser("verify", help="walk the hash chain and the signed checkpoints; exit 1 on any break")
    verify.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the walk (default 300)")
    verify.set_defaults(run=admin_runner(audit_pb2_grpc.AuditServiceStub, _verify))
