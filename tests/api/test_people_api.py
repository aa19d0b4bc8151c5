"""People over real gRPC to the in-process broker, time moved by the fake clock: login, refresh
families and reuse, logout, lifetimes, throttling and lockout, password changes, delegation."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import argon2
import grpc
import jwt
import pyotp
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf.field_mask_pb2 import FieldMask

from broker.core.principals import Principal
from broker.core.tokens import TOKEN_TYPE_ACCESS, TOKEN_TYPE_JWT
from broker_client import keys
from broker_client.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    identity_pb2,
    identity_pb2_grpc,
    token_pb2,
    token_pb2_grpc,
)
from tests.api.harness import ApiBroker
from tests.e2e.harness import Metadata, bearer
from tests.e2e.test_rate_limits import retry_delay

PASSWORD = "correct horse battery staple"


def _error(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


class People:
    """The stubs a test needs, on one channel, with the admin's metadata."""

    def __init__(self, broker: ApiBroker, channel: grpc.Channel) -> None:
        self.broker = broker
        self.auth = auth_pb2_grpc.AuthServiceStub(channel)
        self.users = auth_pb2_grpc.UserServiceStub(channel)
        self.tokens = token_pb2_grpc.TokenServiceStub(channel)
        self.identities = identity_pb2_grpc.IdentityServiceStub(channel)
        self.audit = audit_pb2_grpc.AuditServiceStub(channel)

    @property
    def admin(self) -> Metadata:
        """A fresh admin token (the clock moves in these tests)."""
        return self.broker.admin_metadata()

    def create(self, name: str, *scopes: str, password: str = PASSWORD) -> auth_pb2.User:
        user = auth_pb2.User(username=name, allowed_scopes=scopes)
        return self.users.CreateUser(auth_pb2.CreateUserRequest(user=user, password=password), metadata=self.admin).user

    def login(self, name: str, password: str = PASSWORD, **fields: Any) -> auth_pb2.LoginResponse:
        return self.auth.Login(auth_pb2.LoginRequest(username=name, password=password, **fields))

    def refresh(self, token: str) -> auth_pb2.RefreshTokenResponse:
        return self.auth.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=token))

    def active(self, token: str) -> bool:
        request = token_pb2.IntrospectTokenRequest(token=token)
        return bool(self.tokens.IntrospectToken(request, metadata=self.admin).active)

    def update(self, name: str, *paths: str, password: str = "", **fields: Any) -> auth_pb2.User:
        request = auth_pb2.UpdateUserRequest(
            user=auth_pb2.User(username=name, **fields), update_mask=FieldMask(paths=paths), password=password
        )
        return self.users.UpdateUser(request, metadata=self.admin).user

    def events(self, action: str) -> list[audit_pb2.AuditEvent]:
        request = audit_pb2.ListAuditEventsRequest(filter=f"action={action}")
        return list(self.audit.ListAuditEvents(request, metadata=self.admin).events)


@pytest.fixture
def people(api_broker: ApiBroker) -> Iterator[People]:
    with api_broker.channel() as channel:
        yield People(api_broker, channel)


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def test_a_person_logs_in_and_gets_a_human_token_the_broker_api_accepts(people: People) -> None:
    """The token is the broker's at+jwt: kind human, sub user:<name>, amr pwd, a sid; with
    broker.admin it drives the admin API; the user's record never shows the hash."""
    user = people.create("alice", "broker.admin", "files:read")
    assert user.has_password and not user.locked and user.etag
    pair = people.login("Alice")  # user names are case-insensitive
    token = claims(pair.access_token)
    assert token["kind"] == "human" and token["sub"] == "user:alice" and token["amr"] == ["pwd"]
    assert token["sid"] and token["aud"] == people.broker.issuer and token["scope"] == "broker.admin files:read"
    assert token["exp"] - token["iat"] == 15 * 60
    assert pair.refresh_token.startswith("brt_") and len(pair.refresh_token) > 40
    listed = people.identities.ListIdentities(identity_pb2.ListIdentitiesRequest(), metadata=bearer(pair.access_token))
    assert any(i.id == "admin" for i in listed.identities)
    narrowed = claims(people.login("alice", scopes=["files:read"]).access_token)
    assert narrowed["scope"] == "files:read"
    login = people.events("auth.login")[0]
    assert login.actor == "user:alice" and login.outcome == "success"
    assert PASSWORD not in str(login) and "argon2" not in str(people.users.GetUser(
        auth_pb2.GetUserRequest(username="alice"), metadata=people.admin
    ))  # fmt: skip


def test_unknown_user_wrong_password_and_disabled_user_get_the_same_answer(people: People) -> None:
    """UNAUTHENTICATED with one message for all three; only the audit trail says why."""
    people.create("bob")
    people.create("carol")
    people.update("carol", "disabled", disabled=True)
    answers = {
        (e.code(), e.details())
        for e in (
            _error(lambda: people.login("nobody")),
            _error(lambda: people.login("bob", "wrong password, long enough")),
            _error(lambda: people.login("carol")),
        )
    }
    assert answers == {(grpc.StatusCode.UNAUTHENTICATED, "invalid user name or password")}
    reasons = sorted(str(e.details["reason"]) for e in people.events("auth.login") if e.outcome == "failure")
    assert reasons == ["disabled", "unknown user", "wrong password"]


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short one", "12 to 128"),
        ("x" * 129, "12 to 128"),
        ("dave-is-the-best", "user name"),
        ("password1234", "common"),
    ],
)
def test_a_weak_password_is_refused_with_the_rule_it_breaks(people: People, password: str, why: str) -> None:
    """NIST 800-63B: length, the user name, the bundled common list; nothing is created."""
    error = _error(lambda: people.create("dave", password=password))
    details = error.details() or ""
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT and why in details
    assert password not in details
    missing = _error(lambda: people.users.GetUser(auth_pb2.GetUserRequest(username="dave"), metadata=people.admin))
    assert missing.code() is grpc.StatusCode.NOT_FOUND


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_family(people: People) -> None:
    """Each refresh kills the presented token; presenting a dead one ends every token of the login."""
    people.create("erin")
    first = people.login("erin")
    second = people.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token and people.active(second.access_token)
    assert claims(second.access_token)["sid"] == claims(first.access_token)["sid"]
    reuse = _error(lambda: people.refresh(first.refresh_token))
    assert reuse.code() is grpc.StatusCode.UNAUTHENTICATED and reuse.details() == "invalid refresh token"
    assert not people.active(second.access_token) and not people.active(first.access_token)
    assert _error(lambda: people.refresh(second.refresh_token)).code() is grpc.StatusCode.UNAUTHENTICATED
    (theft,) = people.events("auth.refresh_reuse")
    assert theft.target == "erin" and theft.outcome == "failure"
    other = people.login("erin")  # a new login is a new family
    assert people.active(other.access_token)


def test_logout_ends_the_login_and_its_tokens(people: People) -> None:
    """After Logout the access token is inactive and the refresh token refused; logging out twice is fine."""
    people.create("frank", "broker.admin")
    pair = people.login("frank")
    people.auth.Logout(auth_pb2.LogoutRequest(refresh_token=pair.refresh_token))
    people.auth.Logout(auth_pb2.LogoutRequest(refresh_token=pair.refresh_token))
    people.auth.Logout(auth_pb2.LogoutRequest(refresh_token="brt_never-issued"))
    assert not people.active(pair.access_token)
    assert _error(lambda: people.refresh(pair.refresh_token)).code() is grpc.StatusCode.UNAUTHENTICATED
    denied = _error(lambda: people.identities.ListIdentities(
        identity_pb2.ListIdentitiesRequest(), metadata=bearer(pair.access_token)
    ))  # fmt: skip
    assert denied.code() is grpc.StatusCode.UNAUTHENTICATED
    assert [e.target for e in people.events("auth.logout")] == ["frank"]


def test_a_refresh_family_lapses_when_idle_and_at_its_absolute_end(people: People) -> None:
    """12 h unused ends a login; refreshing every 11 h keeps it only until 7 days after the login."""
    people.create("grace")
    idle = people.login("grace")
    people.broker.advance(timedelta(hours=12, seconds=1))
    assert _error(lambda: people.refresh(idle.refresh_token)).code() is grpc.StatusCode.UNAUTHENTICATED
    pair = people.login("grace")
    for _ in range(15):  # 15 x 11 h = 6 d 21 h: still inside the 7 days
        people.broker.advance(timedelta(hours=11))
        refreshed = people.refresh(pair.refresh_token)
        pair = auth_pb2.LoginResponse(refresh_token=refreshed.refresh_token, access_token=refreshed.access_token)
    assert refreshed.refresh_expires_at.ToSeconds() <= int(people.broker.now()) + 3 * 3600
    people.broker.advance(timedelta(hours=3, seconds=1))
    assert _error(lambda: people.refresh(pair.refresh_token)).code() is grpc.StatusCode.UNAUTHENTICATED


def test_failures_from_one_address_back_off_then_stop_without_locking_the_account(people: People) -> None:
    """After 5 failures the account waits (RetryInfo); at 8 the address stops; the person still
    logs in once the hour has passed."""
    people.create("heidi")
    for _ in range(5):
        assert _error(lambda: people.login("heidi", "wrong password 0000")).code() is grpc.StatusCode.UNAUTHENTICATED
    backoff = _error(lambda: people.login("heidi", "wrong password 9999"))
    assert backoff.code() is grpc.StatusCode.RESOURCE_EXHAUSTED and retry_delay(backoff) == 1.0
    for n in range(3):  # waiting out each backoff: failures 6, 7, 8
        people.broker.advance(timedelta(seconds=2**n))
        assert _error(lambda: people.login("heidi", "wrong password xxxx")).code() is grpc.StatusCode.UNAUTHENTICATED
    people.broker.advance(timedelta(minutes=5))
    address = _error(lambda: people.login("heidi"))
    assert address.code() is grpc.StatusCode.RESOURCE_EXHAUSTED and "address" in (address.details() or "")
    assert 0 < retry_delay(address) <= 3600
    people.broker.advance(timedelta(hours=1))
    assert people.login("heidi").access_token


def test_twenty_failures_from_several_addresses_lock_the_account_until_an_admin_unlocks(people: People) -> None:
    """A lockout answers like a wrong password even to the right one; UnlockUser clears it."""
    people.create("ivan")
    logins = people.broker.broker.logins
    for n in range(20):  # four addresses, five failures each, inside one hour, each backoff (<= 60 s) waited out
        people.broker.advance(timedelta(seconds=61))
        with pytest.raises(Exception, match="invalid user name or password"):
            logins.login("ivan", "wrong password xxxx", scopes=(), audiences=(),
                         by=Principal.anonymous(peer=f"ipv4:10.0.0.{n // 5}:4000"))  # fmt: skip
    assert [e.target for e in people.events("auth.lockout")] == ["ivan"]
    people.broker.advance(timedelta(hours=2))
    locked = _error(lambda: people.login("ivan"))
    assert (locked.code(), locked.details()) == (grpc.StatusCode.UNAUTHENTICATED, "invalid user name or password")
    user = people.users.GetUser(auth_pb2.GetUserRequest(username="ivan"), metadata=people.admin).user
    assert user.locked
    people.users.UnlockUser(auth_pb2.UnlockUserRequest(username="ivan"), metadata=people.admin)
    assert people.login("ivan").access_token
    assert [e.target for e in people.events("auth.unlock")] == ["ivan"]


def test_changing_or_resetting_the_password_ends_every_login(people: People) -> None:
    """ChangePassword needs the current password; afterwards old tokens are dead and only the new
    password works; an admin reset does the same."""
    people.create("judy")
    first, second = people.login("judy"), people.login("judy")
    md = bearer(first.access_token)
    wrong = _error(lambda: people.auth.ChangePassword(
        auth_pb2.ChangePasswordRequest(current_password="not my password!", new_password="a new long passphrase"),
        metadata=md,
    ))  # fmt: skip
    assert wrong.code() is grpc.StatusCode.UNAUTHENTICATED
    weak = _error(lambda: people.auth.ChangePassword(
        auth_pb2.ChangePasswordRequest(current_password=PASSWORD, new_password="judy judy judy"), metadata=md
    ))  # fmt: skip
    assert weak.code() is grpc.StatusCode.INVALID_ARGUMENT
    people.broker.advance(1)
    people.auth.ChangePassword(
        auth_pb2.ChangePasswordRequest(current_password=PASSWORD, new_password="a new long passphrase"), metadata=md
    )
    assert not people.active(first.access_token) and not people.active(second.access_token)
    assert _error(lambda: people.refresh(second.refresh_token)).code() is grpc.StatusCode.UNAUTHENTICATED
    assert _error(lambda: people.login("judy")).code() is grpc.StatusCode.UNAUTHENTICATED
    third = people.login("judy", "a new long passphrase")
    people.broker.advance(1)
    people.update("judy", password="reset by the admin, long")
    assert not people.active(third.access_token)
    assert people.login("judy", "reset by the admin, long").access_token
    assert len(people.events("auth.password_change")) == 1


def test_a_person_delegates_to_an_agent_whose_token_dies_with_the_person(people: People) -> None:
    """sub stays the person, act names the agent, exp no later than the person's token; disabling
    the person kills the agent's token at once."""
    people.create("kate", "files:read", "files:write")
    agent_key = ec.generate_private_key(ec.SECP256R1())
    agent = identity_pb2.Identity(
        id="helper", kind=identity_pb2.IDENTITY_KIND_AI_AGENT, allowed_scopes=["files:read"],
        delegable_scopes=["files:read"],
        public_keys=[identity_pb2.PublicKey(jwk_json=json.dumps(keys.public_jwk(agent_key)))],
    )  # fmt: skip
    people.identities.CreateIdentity(identity_pb2.CreateIdentityRequest(identity=agent), metadata=people.admin)
    person = people.login("kate")
    delegated = people.tokens.ExchangeToken(
        token_pb2.ExchangeTokenRequest(
            subject_token=person.access_token, subject_token_type=TOKEN_TYPE_ACCESS,
            actor_token=people.broker.assertion("helper", agent_key), actor_token_type=TOKEN_TYPE_JWT,
        )
    ).access_token  # fmt: skip
    token = claims(delegated)
    assert token["sub"] == "user:kate" and token["act"]["sub"] == "helper" and token["kind"] == "human"
    assert token["scope"] == "files:read" and token["exp"] <= claims(person.access_token)["exp"]
    assert people.active(delegated)
    people.broker.advance(1)
    people.update("kate", "disabled", disabled=True)
    assert not people.active(delegated) and not people.active(person.access_token)
    (delegation,) = people.events("token.delegate")
    assert delegation.subject == "user:kate" and delegation.actor == "helper"


def test_user_service_pages_filters_updates_with_etags_and_deletes(people: People) -> None:
    """AIP shapes like IdentityService: page tokens, filter, update_mask + etag, delete; admin only."""
    for name in ("u1", "u2", "u3"):
        people.create(name)
    page = people.users.ListUsers(auth_pb2.ListUsersRequest(page_size=2), metadata=people.admin)
    assert [u.username for u in page.users] == ["u1", "u2"] and page.next_page_token
    rest = people.users.ListUsers(auth_pb2.ListUsersRequest(page_token=page.next_page_token), metadata=people.admin)
    assert [u.username for u in rest.users] == ["u3"]
    user = people.users.GetUser(auth_pb2.GetUserRequest(username="u2"), metadata=people.admin).user
    update = auth_pb2.UpdateUserRequest(
        user=auth_pb2.User(username="u2", display_name="U Two", etag=user.etag),
        update_mask=FieldMask(paths=["display_name"]),
    )
    assert people.users.UpdateUser(update, metadata=people.admin).user.display_name == "U Two"
    assert _error(lambda: people.users.UpdateUser(update, metadata=people.admin)).code() is grpc.StatusCode.ABORTED
    bad_mask = auth_pb2.UpdateUserRequest(user=auth_pb2.User(username="u2"), update_mask=FieldMask(paths=["username"]))
    assert _error(lambda: people.users.UpdateUser(bad_mask, metadata=people.admin)).code() \
        is grpc.StatusCode.INVALID_ARGUMENT  # fmt: skip
    disabled = people.users.ListUsers(auth_pb2.ListUsersRequest(filter="disabled=true"), metadata=people.admin)
    assert list(disabled.users) == []
    people.users.DeleteUser(auth_pb2.DeleteUserRequest(username="u3"), metadata=people.admin)
    assert _error(lambda: people.users.GetUser(auth_pb2.GetUserRequest(username="u3"), metadata=people.admin)).code() \
        is grpc.StatusCode.NOT_FOUND  # fmt: skip
    person: Metadata = bearer(people.login("u1").access_token)  # no broker.admin
    assert _error(lambda: people.users.ListUsers(auth_pb2.ListUsersRequest(), metadata=person)).code() \
        is grpc.StatusCode.PERMISSION_DENIED  # fmt: skip


# MFA --------------------------------------------------------------------------------


def _enrol(people: People, name: str) -> tuple[pyotp.TOTP, list[str]]:
    """Enrol ``name`` with TOTP through the API; the authenticator app and the recovery codes."""
    md = bearer(people.login(name).access_token)
    uri = people.auth.EnrollMfa(auth_pb2.EnrollMfaRequest(), metadata=md).otpauth_uri
    app = pyotp.parse_uri(uri)
    assert isinstance(app, pyotp.TOTP) and uri.startswith("otpauth://totp/") and f"{name}" in uri
    wrong = _error(lambda: people.auth.ConfirmMfa(auth_pb2.ConfirmMfaRequest(code="000000"), metadata=md))
    assert wrong.code() is grpc.StatusCode.UNAUTHENTICATED
    codes = people.auth.ConfirmMfa(auth_pb2.ConfirmMfaRequest(code=app.at(people.broker.clock.now())), metadata=md)
    return app, list(codes.recovery_codes)


def test_mfa_enrolment_then_logins_need_a_fresh_code_each_accepted_once(people: People) -> None:
    """After enrolment: no code is FAILED_PRECONDITION (after the right password only); the code of
    the confirmation, or any code used once, is refused; a code of the next step works (amr otp, mfa)."""
    people.create("mia", "docs.read")
    app, recovery = _enrol(people, "mia")
    assert len(recovery) == 10 and len(set(recovery)) == 10
    user = people.users.GetUser(auth_pb2.GetUserRequest(username="mia"), metadata=people.admin).user
    assert user.mfa_enabled
    needs = _error(lambda: people.login("mia"))
    assert needs.code() is grpc.StatusCode.FAILED_PRECONDITION and "one-time code" in (needs.details() or "")
    assert _error(lambda: people.login("mia", "wrong password here")).code() is grpc.StatusCode.UNAUTHENTICATED
    now = people.broker.clock.now()
    replay = _error(lambda: people.login("mia", otp=app.at(now)))  # the confirmation's code, inside its step
    assert (replay.code(), replay.details()) == (grpc.StatusCode.UNAUTHENTICATED, "invalid user name or password")
    people.broker.advance(30)
    code = app.at(people.broker.clock.now())
    token = claims(people.login("mia", otp=code).access_token)
    assert token["amr"] == ["pwd", "otp", "mfa"] and token["scope"] == "docs.read"
    assert _error(lambda: people.login("mia", otp=code)).code() is grpc.StatusCode.UNAUTHENTICATED
    people.broker.advance(30)  # one step late is still accepted (skew), once
    late = app.at(people.broker.clock.now())
    people.broker.advance(30)
    assert people.login("mia", otp=late).access_token
    reasons = [e.details["reason"] for e in people.events("auth.login") if e.outcome == "failure"]
    assert "replayed one-time code" in reasons and "wrong password" in reasons


def test_a_recovery_code_works_once_and_an_admin_reset_removes_mfa(people: People) -> None:
    """Each recovery code replaces one TOTP code once; reset-mfa lets the person in with the password alone."""
    people.create("noah")
    _, recovery = _enrol(people, "noah")
    assert people.login("noah", otp=recovery[0].lower()).access_token  # case and dashes do not matter
    assert _error(lambda: people.login("noah", otp=recovery[0])).code() is grpc.StatusCode.UNAUTHENTICATED
    assert [e.details["left"] for e in people.events("auth.recovery_code")] == [9]
    md = bearer(people.login("noah", otp=recovery[1]).access_token)
    again = _error(lambda: people.auth.EnrollMfa(auth_pb2.EnrollMfaRequest(), metadata=md))
    assert again.code() is grpc.StatusCode.FAILED_PRECONDITION  # a session cannot move the second factor
    people.users.ResetUserMfa(auth_pb2.ResetUserMfaRequest(username="noah"), metadata=people.admin)
    assert claims(people.login("noah").access_token)["amr"] == ["pwd"]


def test_required_mfa_gives_a_token_good_only_for_enrolling(people: People) -> None:
    """Requiring MFA kills the tokens of logins without it; until enrolled a login carries no scope."""
    people.create("olga", "broker.admin")
    before = people.login("olga")
    people.broker.advance(1)
    people.update("olga", "mfa_required", mfa_required=True)
    assert not people.active(before.access_token)
    limited = people.login("olga")
    assert claims(limited.access_token)["scope"] == ""
    denied = _error(lambda: people.identities.ListIdentities(
        identity_pb2.ListIdentitiesRequest(), metadata=bearer(limited.access_token)
    ))  # fmt: skip
    assert denied.code() is grpc.StatusCode.PERMISSION_DENIED
    app, _ = _enrol(people, "olga")
    people.broker.advance(30)
    full = people.login("olga", otp=app.at(people.broker.clock.now()))
    assert claims(full.access_token)["scope"] == "broker.admin"


def test_a_person_created_without_a_password_chooses_one_with_the_setup_code(people: People) -> None:
    """The code comes once with CreateUser; it works once, within 24 h, and only with a policy-fit password."""
    created = people.users.CreateUser(
        auth_pb2.CreateUserRequest(user=auth_pb2.User(username="pia", allowed_scopes=["docs.read"])),
        metadata=people.admin,
    )
    code = created.setup_code
    assert code.startswith("bsc_") and not created.user.has_password
    assert _error(lambda: people.login("pia", "no password is set yet")).code() is grpc.StatusCode.UNAUTHENTICATED

    def redeem(setup_code: str, password: str) -> auth_pb2.RedeemSetupCodeResponse:
        request = auth_pb2.RedeemSetupCodeRequest(username="pia", setup_code=setup_code, new_password=password)
        return people.auth.RedeemSetupCode(request)

    wrong = _error(lambda: redeem("bsc_not-the-code", "pia's chosen passphrase"))
    assert (wrong.code(), wrong.details()) == (grpc.StatusCode.UNAUTHENTICATED, "invalid user name or password")
    assert _error(lambda: redeem(code, "short")).code() is grpc.StatusCode.INVALID_ARGUMENT  # the code stays good
    pair = redeem(code, "a chosen passphrase")
    assert claims(pair.access_token)["scope"] == "docs.read" and people.active(pair.access_token)
    assert _error(lambda: redeem(code, "another passphrase")).code() is grpc.StatusCode.UNAUTHENTICATED
    assert people.login("pia", "a chosen passphrase").access_token
    late = people.users.CreateUser(
        auth_pb2.CreateUserRequest(user=auth_pb2.User(username="quinn")), metadata=people.admin
    ).setup_code
    people.broker.advance(timedelta(hours=24, seconds=1))
    expired = _error(lambda: people.auth.RedeemSetupCode(
        auth_pb2.RedeemSetupCodeRequest(username="quinn", setup_code=late, new_password="too late for this one")
    ))  # fmt: skip
    assert expired.code() is grpc.StatusCode.UNAUTHENTICATED
    assert [e.target for e in people.events("auth.setup")] == ["pia"]


def test_export_holds_everything_about_a_person_and_delete_erases_their_logins(people: People) -> None:
    """The export has the profile (no hash, no seed), every login and the audit events naming them;
    after delete the person and their logins are gone and their tokens dead."""
    people.create("rosa", "docs.read")
    first = people.login("rosa")
    people.auth.Logout(auth_pb2.LogoutRequest(refresh_token=first.refresh_token))
    people.broker.advance(1)  # logins list oldest first; the fake clock would make them simultaneous
    second = people.login("rosa")
    export = people.users.ExportUser(auth_pb2.ExportUserRequest(username="rosa"), metadata=people.admin)
    assert export.user.username == "rosa" and export.user.has_password and not export.truncated
    assert [s.end_reason for s in export.sessions] == ["logout", ""]
    actions = [e.action for e in export.audit_events]
    assert actions == ["user.create", "auth.login", "auth.logout", "auth.login"]
    assert [e.seq for e in export.audit_events] == sorted(e.seq for e in export.audit_events)
    text = str(export)
    assert "argon2" not in text and "seed" not in text and PASSWORD not in text
    people.users.DeleteUser(auth_pb2.DeleteUserRequest(username="rosa"), metadata=people.admin)
    assert not people.active(second.access_token)
    assert _error(lambda: people.refresh(second.refresh_token)).code() is grpc.StatusCode.UNAUTHENTICATED
    assert people.broker.broker.store.list_families_of("rosa") == []
    assert [e.details["sessions_erased"] for e in people.events("user.delete")] == [2]


def test_a_hash_with_older_parameters_is_rehashed_at_the_next_login(people: People) -> None:
    """A password hashed with a weaker profile still logs in, and is stored with today's profile after."""
    people.create("tess")
    store = people.broker.broker.store
    weak = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    person = store.get_person("tess")
    store.update_person(dataclasses.replace(person, password_hash=weak), expected_etag=person.etag)
    people.broker.broker.people.forget("tess")
    assert people.login("tess").access_token
    assert store.get_person("tess").password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert people.login("tess").access_token


def test_the_scheduler_purges_lapsed_logins_and_closed_failure_windows(people: People) -> None:
    """A week and a day after a login, purge_expired has erased it; an old failure count too."""
    people.create("vera")
    people.login("vera")
    assert _error(lambda: people.login("vera", "a wrong password")).code() is grpc.StatusCode.UNAUTHENTICATED
    store = people.broker.broker.store
    assert len(store.list_families_of("vera")) == 1 and store.get_login_failures("user:vera") is not None
    people.broker.advance(timedelta(days=7, hours=2))
    people.broker.tick("lease", "purge_expired")
    assert store.list_families_of("vera") == [] and store.get_login_failures("user:vera") is None


def test_erasing_a_person_pseudonymizes_their_audit_events_and_the_chain_still_verifies(people: People) -> None:
    """After delete no event names them, one pseudonym stands for them throughout, verify is intact
    (erasing the admin who erased them too); an edit of a rewritten event is still caught."""
    people.create("boss", "broker.admin")
    people.create("walt", "docs.read")
    people.login("walt")
    boss = bearer(people.login("boss").access_token)
    people.users.DeleteUser(auth_pb2.DeleteUserRequest(username="walt"), metadata=boss)
    events = people.audit.ListAuditEvents(audit_pb2.ListAuditEventsRequest(page_size=1000), metadata=people.admin)
    text = str(events)
    assert "walt" not in text
    (erasure,) = people.events("user.pseudonymize")
    pseudonym = erasure.target
    assert pseudonym.startswith("~") and erasure.actor == "user:boss"
    renamed = [e for e in events.events if e.target == pseudonym or e.actor == f"user:{pseudonym}"]
    assert {e.action for e in renamed} >= {"user.create", "auth.login", "user.delete"}
    chain = people.audit.VerifyAuditChain(audit_pb2.VerifyAuditChainRequest(), metadata=people.admin)
    rewritten = erasure.details["events"]
    assert isinstance(rewritten, float) and rewritten >= 3 and chain.ok and chain.pseudonymized == rewritten
    people.users.DeleteUser(auth_pb2.DeleteUserRequest(username="boss"), metadata=people.admin)
    chain = people.audit.VerifyAuditChain(audit_pb2.VerifyAuditChainRequest(), metadata=people.admin)
    assert chain.ok, chain.problems
    store = people.broker.broker.store
    login = next(e for e in store.read_audit_chain(after=0, limit=1000) if e.action == "auth.login" and "~" in e.actor)
    store.replace_audit_event(dataclasses.replace(login, details={**login.details, "amr": ["forged"]}))
    chain = people.audit.VerifyAuditChain(audit_pb2.VerifyAuditChainRequest(), metadata=people.admin)
    assert not chain.ok and [p.seq for p in chain.problems] == [login.seq]
