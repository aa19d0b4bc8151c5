"""Runs last in the security package (file order): no token the suite sent or received, and
no secret of the daemon, appears in any line of the daemon's log."""

from __future__ import annotations

import base64

import grpc
import pytest

from tests.e2e.harness import TOKEN_TYPE_ACCESS
from tests.security.conftest import Actors, Target

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("security")]  # one worker: test_zz_logs reads their log
MIN_SEGMENT = 16  # shorter base64url segments (e.g. "AA") could occur by chance


def test_no_token_or_secret_appears_in_any_log_line(target: Target, actors: Actors) -> None:
    """Every token the suite used (whole, and each of its segments) is absent from the log, even
    one a client put where a name goes (a scope) to have it echoed in an error message."""
    token = target.token_for(actors.victim)
    as_scope = target.exchange_code(token, TOKEN_TYPE_ACCESS, scopes=[target.assertion(actors.victim)])
    assert as_scope == grpc.StatusCode.PERMISSION_DENIED
    assert target.exchange_code(target.k8s_token()) == grpc.StatusCode.OK

    log = target.proc.log()
    assert '"event": "rpc"' in log
    leaks: list[str] = []
    for sent in {t for t in target.sent if t}:
        pieces = [sent] + [p for p in sent.split(".") if len(p) >= MIN_SEGMENT]
        leaks.extend(piece[:24] for piece in pieces if piece in log)
    assert leaks == []
    admin_key = target.proc.admin_key.read_text().splitlines()
    assert not any(line in log for line in admin_key if len(line) >= MIN_SEGMENT)
    kek = (target.proc.data_dir / "kek").read_bytes()
    assert not any(
        form in log for form in (base64.b64encode(kek).decode(), base64.urlsafe_b64encode(kek).decode(), kek.hex())
    )
