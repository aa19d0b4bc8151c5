"""Vault/OpenBao-only behaviour of VaultStore, against real OpenBao dev servers.

The contract suite (test_contract*.py) already runs unchanged on OpenBao; these tests
cover what only this backend has: check-and-set on every write, outages (sealed, hung,
refused), policies, AppRole and Kubernetes logins, TLS, the mount and schema checks,
the event outbox, and what Vault holds at rest.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import hvac
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from broker.config import SettingsError, load_settings
from broker.core.audit import AuditFilter, chain_hash
from broker.core.errors import Conflict, FailedPrecondition, NotFound, Unavailable
from broker.core.generators import Generator
from broker.core.identities import IdentityFilter
from broker.core.issuers import TrustedIssuer
from broker.core.secrets import EventType, RotationPolicy, Secret, SecretVersion, VersionState
from broker.core.sensitive import Sensitive
from broker.store import open_store, records
from broker.store.records import ISO_8601
from broker.store.sealing import Sealer
from broker.store.sql import SqlStore
from broker.store.vault import SCHEMA_VERSION, VaultAuth, VaultAuthMethod, VaultLocation, VaultStore

from .conftest import TEST_KEK
from .openbao import DEFAULT_MOUNT, OpenBaoServer, start_for_pytest
from .test_contract import audit, identity, signing_key

NOW = datetime(2030, 1, 1, tzinfo=UTC)
MakeStore = Callable[..., VaultStore]


@pytest.fixture
def make_store(openbao_server: OpenBaoServer) -> Iterator[MakeStore]:
    """Opens VaultStores on the session's server (root token unless told), closed after the test."""
    with ExitStack() as stack:

        def make(
            url: str | None = None, *, auth: VaultAuth | None = None, timeout: int = 10, ca_file: str = ""
        ) -> VaultStore:
            auth = auth or VaultAuth(token=Sensitive(openbao_server.root_token.encode()))
            store = VaultStore(url or openbao_server.url(openbao_server.fresh_prefix()), Sealer(TEST_KEK), auth,
                               timeout=timeout, ca_file=ca_file)  # fmt: skip
            stack.callback(store.close)
            return store

        yield make


@pytest.fixture(scope="module")
def fault_server() -> Iterator[OpenBaoServer]:
    """A server of its own for tests that seal or freeze it, so no other test sees the outage."""
    server = start_for_pytest()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tls_server() -> Iterator[OpenBaoServer]:
    """A dev server listening with TLS (its own generated CA)."""
    server = start_for_pytest(tls=True)
    yield server
    server.stop()


def root_store(server: OpenBaoServer, prefix: str, stack: ExitStack, **kwargs: Any) -> VaultStore:
    """A migrated store on ``prefix`` with the server's root token."""
    store = VaultStore(server.url(prefix), Sealer(TEST_KEK), VaultAuth(token=Sensitive(server.root_token.encode())),
                       **kwargs)  # fmt: skip
    stack.callback(store.close)
    store.migrate()
    return store


def prefix_policy(
    prefix: str, *, data: str = '"create", "read", "update"', meta: str = '"read", "list", "update", "delete"'
) -> str:
    """The policy the README gives a broker: its prefix, data and metadata, nothing else."""
    return (
        f'path "{DEFAULT_MOUNT}/data/{prefix}/*" {{ capabilities = [{data}] }}\n'
        f'path "{DEFAULT_MOUNT}/metadata/{prefix}/*" {{ capabilities = [{meta}] }}\n'
    )


def secret(secret_id: str) -> Secret:
    """A secret with one hour of grace and no retention."""
    return Secret(
        id=secret_id,
        generator=Generator.API_KEY,
        length=32,
        policy=RotationPolicy(interval=timedelta(days=1), grace_period=timedelta(hours=1)),
        next_rotation_time=NOW + timedelta(days=1),
        create_time=NOW,
        update_time=NOW,
    )


def version(secret_id: str, number: int, at: datetime = NOW) -> SecretVersion:
    """Version ``number`` with a recognisable value."""
    return SecretVersion(
        secret_id, number, VersionState.CURRENT, at, value=Sensitive(f"value-{secret_id}-{number}".encode())
    )


def raw(server: OpenBaoServer, path: str) -> tuple[dict[str, Any], int]:
    """A document as Vault holds it (data and version), read with the root token."""
    response = server.client().secrets.kv.v2.read_secret_version(
        path=path, mount_point=DEFAULT_MOUNT, raise_on_deleted_version=True
    )
    return response["data"]["data"], response["data"]["metadata"]["version"]


# check-and-set ----------------------------------------------------------------------


def test_every_write_names_a_version_so_a_cas_required_mount_takes_the_whole_workload(
    openbao_server: OpenBaoServer, make_store: MakeStore
) -> None:
    """On a mount that refuses writes without check-and-set, every Store operation still succeeds."""
    mount = openbao_server.create_mount()
    openbao_server.client().secrets.kv.v2.configure(cas_required=True, mount_point=mount)
    store = make_store(openbao_server.url("broker", mount=mount))
    store.migrate()

    created = store.create_identity(identity("orders"))
    updated = store.update_identity(dataclasses.replace(created, display_name="v2"), expected_etag=created.etag)
    store.delete_identity("orders", expected_etag=updated.etag)
    store.create_identity(identity("orders"))
    store.add_signing_key(signing_key("sk"))
    store.delete_signing_key("sk")
    assert store.consume_jti("k", NOW + timedelta(minutes=1), NOW) is True
    assert store.consume_jti("k", NOW + timedelta(minutes=1), NOW) is False
    assert store.consume_jti("k", NOW + timedelta(hours=1), NOW + timedelta(minutes=2)) is True
    store.revoke_token("jti", NOW + timedelta(minutes=1))
    store.revoke_token("jti", NOW + timedelta(minutes=2))
    assert store.purge_expired(NOW + timedelta(hours=2)) == 2
    store.create_secret(secret("db"), version("db", 1))
    store.update_secret(dataclasses.replace(store.get_secret("db"), length=40), expected_etag="1")
    store.rotate_secret("db", expected_version=1, new=version("db", 2), grace_expire_time=NOW, next_rotation_time=None)
    assert len(store.expire_secret_versions(NOW)) == 1
    assert store.destroy_expired_material(NOW) == 1
    store.delete_secret("db", expected_etag=None, now=NOW)
    assert [e.type for e in store.list_secret_events(after_seq=0, limit=10)] == [
        EventType.ROTATED,
        EventType.GRACE_EXPIRED,
        EventType.DELETED,
    ]
    assert store.acquire_lease("scheduler", "a", ttl=timedelta(seconds=30), now=NOW) == 1
    store.release_lease("scheduler", "a")
    store.append_audit_events([audit(1)])

    kv = openbao_server.client().secrets.kv.v2
    with pytest.raises(hvac.exceptions.InvalidRequest, match="check-and-set parameter required"):
        kv.create_or_update_secret(path="broker/identities/orders", secret={"x": 1}, mount_point=mount)


def test_a_concurrent_writer_makes_an_update_conflict_and_leaves_its_own_data(
    openbao_server: OpenBaoServer, make_store: MakeStore
) -> None:
    """Another replica wrote in between: the update is refused whole and Vault keeps the other write."""
    prefix = openbao_server.fresh_prefix()
    store = make_store(openbao_server.url(prefix))
    store.migrate()
    created = store.create_identity(identity("orders"))
    path = f"{prefix}/identities/orders"
    theirs, their_version = raw(openbao_server, path)
    theirs = {**theirs, "display_name": "written by replica B"}
    openbao_server.client().secrets.kv.v2.create_or_update_secret(
        path=path, secret=theirs, cas=their_version, mount_point=DEFAULT_MOUNT
    )

    with pytest.raises(Conflict, match="etag"):
        store.update_identity(dataclasses.replace(created, display_name="written by A"), expected_etag=created.etag)
    assert raw(openbao_server, path) == (theirs, their_version + 1)
    assert store.get_identity("orders").display_name == "written by replica B"


def test_a_deleted_identity_cannot_be_resurrected_by_a_writer_holding_its_old_etag(make_store: MakeStore) -> None:
    """Deletion is a tombstone written with check-and-set: a late update finds NotFound, not the old row."""
    store = make_store()
    store.migrate()
    created = store.create_identity(identity("orders"))
    store.delete_identity("orders", expected_etag=None)
    with pytest.raises(NotFound):
        store.update_identity(dataclasses.replace(created, display_name="late"), expected_etag=created.etag)
    with pytest.raises(NotFound):
        store.get_identity("orders")
    assert store.create_identity(identity("orders")).etag != created.etag


def test_names_with_any_characters_round_trip_and_list_in_order(
    openbao_server: OpenBaoServer, make_store: MakeStore
) -> None:
    """Issuer URLs (':', '/', '%', spaces, non-ASCII) are one path segment each and list by URL."""
    prefix = openbao_server.fresh_prefix()
    store = make_store(openbao_server.url(prefix))
    store.migrate()
    urls = ["https://a.example/x y", "https://a.example/x%2Fy", "https://b.example/ünï", "https://b.example:8443"]
    for url in reversed(urls):
        store.create_issuer(TrustedIssuer(issuer=url, jwks_json="{}"))
    assert [i.issuer for i in store.list_issuers(after="", limit=10)] == sorted(urls)
    assert [store.get_issuer(url).issuer for url in urls] == urls
    names = openbao_server.client().secrets.kv.v2.list_secrets(path=f"{prefix}/issuers", mount_point=DEFAULT_MOUNT)
    assert len(names["data"]["keys"]) == 4
    assert all(n.startswith("~") and "/" not in n and "%" not in n for n in names["data"]["keys"])
    with pytest.raises(NotFound):
        store.get_issuer("https://a.example/x")


# secret events --------------------------------------------------------------------


def test_an_event_left_in_an_outbox_by_a_crashed_writer_is_published_once_by_the_sweep(
    openbao_server: OpenBaoServer, make_store: MakeStore
) -> None:
    """A rotation committed without its publication (crash) shows up on the next sweep, exactly once."""
    prefix = openbao_server.fresh_prefix()
    store = make_store(openbao_server.url(prefix))
    store.migrate()
    store.create_secret(secret("db"), version("db", 1))
    path = f"{prefix}/secrets/db"
    data, current = raw(openbao_server, path)
    left = {"id": "e" * 32, "type": "rotated", "version": 2, "current_version": 2, "event_time": NOW.isoformat()}
    openbao_server.client().secrets.kv.v2.create_or_update_secret(
        path=path, secret={**data, "outbox": [left]}, cas=current, mount_point=DEFAULT_MOUNT
    )
    assert store.list_secret_events(after_seq=0, limit=10) == []

    store.expire_secret_versions(NOW)
    store.expire_secret_versions(NOW)

    events = store.list_secret_events(after_seq=0, limit=10)
    assert [(e.seq, e.secret_id, e.type, e.version) for e in events] == [(1, "db", EventType.ROTATED, 2)]
    assert raw(openbao_server, path)[0]["outbox"] == []


def test_readers_skip_a_slot_that_duplicates_a_published_event(
    openbao_server: OpenBaoServer, make_store: MakeStore
) -> None:
    """Two publishers of one event: the mark names one slot and readers report only that one."""
    prefix = openbao_server.fresh_prefix()
    store = make_store(openbao_server.url(prefix))
    store.migrate()
    store.create_secret(secret("db"), version("db", 1))
    store.rotate_secret("db", expected_version=1, new=version("db", 2), grace_expire_time=NOW, next_rotation_time=None)
    first, _ = raw(openbao_server, f"{prefix}/events/slots/1")
    openbao_server.client().secrets.kv.v2.create_or_update_secret(
        path=f"{prefix}/events/slots/2", secret=first, cas=0, mount_point=DEFAULT_MOUNT
    )
    store.rotate_secret("db", expected_version=2, new=version("db", 3), grace_expire_time=NOW, next_rotation_time=None)

    events = store.list_secret_events(after_seq=0, limit=10)
    assert [(e.seq, e.version) for e in events] == [(1, 2), (3, 3)]
    assert store.last_secret_event_seq() == 3


# outages --------------------------------------------------------------------------


def test_a_sealed_vault_is_unavailable_quickly_and_the_same_store_recovers_after_unseal(
    fault_server: OpenBaoServer,
) -> None:
    """Sealed: reads and writes fail fast with UNAVAILABLE and write nothing; unsealed: the store just works."""
    with ExitStack() as stack:
        store = root_store(fault_server, fault_server.fresh_prefix(), stack)
        store.create_identity(identity("before"))
        fault_server.seal()
        try:
            started = time.monotonic()
            with pytest.raises(Unavailable, match=r"store unavailable: vault at .* is sealed"):
                store.get_identity("before")
            with pytest.raises(Unavailable, match="sealed"):
                store.create_identity(identity("during"))
            with pytest.raises(Unavailable):
                store.ping()
            assert time.monotonic() - started < 5
        finally:
            fault_server.unseal()
        store.ping()
        assert store.get_identity("before").id == "before"
        with pytest.raises(NotFound):
            store.get_identity("during")
        store.create_identity(identity("after"))


def test_a_hung_vault_times_out_as_unavailable_and_the_store_recovers(fault_server: OpenBaoServer) -> None:
    """A server that accepts but never answers is UNAVAILABLE after the timeout, and fine once it answers."""
    with ExitStack() as stack:
        store = root_store(fault_server, fault_server.fresh_prefix(), stack, timeout=1)
        fault_server.pause()
        try:
            started = time.monotonic()
            with pytest.raises(Unavailable, match="did not answer in time"):
                store.get_identity("orders")
            assert time.monotonic() - started < 5
        finally:
            fault_server.resume()
        with pytest.raises(NotFound):
            store.get_identity("orders")


def test_a_read_only_token_gets_failed_precondition_naming_the_path_never_the_token(
    openbao_server: OpenBaoServer, make_store: MakeStore
) -> None:
    """Reads work; a write is FAILED_PRECONDITION saying to check the policy; the token appears nowhere."""
    prefix = openbao_server.fresh_prefix()
    make_store(openbao_server.url(prefix)).migrate()
    token = openbao_server.token_with_policy(
        f"ro-{prefix}", prefix_policy(prefix, data='"read"', meta='"read", "list"')
    )
    store = make_store(openbao_server.url(prefix), auth=VaultAuth(token=Sensitive(token.encode())))

    with pytest.raises(NotFound):
        store.get_identity("orders")
    assert store.list_identities(after="", limit=10, flt=IdentityFilter()) == []
    with pytest.raises(
        FailedPrecondition,
        # its first write is the binding index (written before the identity, so it never misses one)
        match=rf"vault denied access to write secret/{prefix}/(identities/orders|bindings/[0-9a-f]{{64}}): check the "
        "token's policy",
    ) as denied:
        store.create_identity(identity("orders"))
    assert token not in str(denied.value)
    assert token not in repr(store)
    with pytest.raises(NotFound):
        make_store(openbao_server.url(prefix)).get_identity("orders")


# migrate: mount and schema --------------------------------------------------------


def test_migrate_creates_a_missing_kv_v2_mount_when_the_token_may(
    openbao_server: OpenBaoServer, make_store: MakeStore
) -> None:
    """A root token on a mount that does not exist yet: migrate enables KV v2 there and the store works."""
    mount = f"kv-new-{OpenBaoServer.fresh_prefix()[2:14]}"
    store = make_store(openbao_server.url("broker", mount=mount))
    store.migrate()
    store.create_identity(identity("orders"))
    listed = openbao_server.client().sys.list_mounted_secrets_engines()  # type: ignore[no-untyped-call]  # unannotated in types-hvac
    mounts = listed["data"]
    assert mounts[f"{mount}/"]["type"] == "kv"
    assert mounts[f"{mount}/"]["options"]["version"] == "2"


def test_migrate_without_a_mount_or_the_right_to_create_it_explains_what_to_do(
    openbao_server: OpenBaoServer, make_store: MakeStore
) -> None:
    """A token limited to its prefix cannot enable a missing mount: FAILED_PRECONDITION with the command."""
    token = openbao_server.token_with_policy("limited", prefix_policy("broker"))
    store = make_store(
        openbao_server.url("broker", mount="no-such-mount"), auth=VaultAuth(token=Sensitive(token.encode()))
    )
    with pytest.raises(
        FailedPrecondition, match=r"no KV v2 mount 'no-such-mount'.*bao secrets enable -path=no-such-mount kv-v2"
    ):
        store.migrate()


def test_migrate_refuses_a_kv_version_1_mount(openbao_server: OpenBaoServer, make_store: MakeStore) -> None:
    """Check-and-set needs KV version 2; a version 1 mount is refused by name."""
    mount = openbao_server.create_mount(version=1)
    with pytest.raises(FailedPrecondition, match=f"vault mount '{mount}' is kv version 1, not KV version 2"):
        make_store(openbao_server.url("broker", mount=mount)).migrate()


def test_migrate_refuses_a_schema_newer_than_it_knows_and_accepts_its_own(
    openbao_server: OpenBaoServer, make_store: MakeStore
) -> None:
    """Migrating twice is fine; a store marked by a newer broker is refused with a clear message."""
    prefix = openbao_server.fresh_prefix()
    store = make_store(openbao_server.url(prefix))
    store.migrate()
    store.migrate()
    assert raw(openbao_server, f"{prefix}/schema")[0] == {"version": SCHEMA_VERSION}
    openbao_server.client().secrets.kv.v2.create_or_update_secret(
        path=f"{prefix}/schema", secret={"version": 99}, cas=1, mount_point=DEFAULT_MOUNT
    )
    with pytest.raises(FailedPrecondition, match="schema version 99, newer than this broker knows \\(2\\)"):
        make_store(openbao_server.url(prefix)).migrate()


def test_migrate_from_schema_1_chains_the_audit_events_it_finds(
    openbao_server: OpenBaoServer, make_store: MakeStore
) -> None:
    """Events a broker before the audit chain wrote (whole, at their id) come out chained, in id order."""
    prefix = openbao_server.fresh_prefix()
    kv = openbao_server.client().secrets.kv.v2
    kv.create_or_update_secret(path=f"{prefix}/schema", secret={"version": 1}, cas=0, mount_point=DEFAULT_MOUNT)
    old = [audit(i) for i in (2, 1)]
    for event in old:
        record = {k: v for k, v in records.audit_fields(event, ISO_8601).items() if k not in _CHAIN_FIELDS}
        path = f"{prefix}/audit/{event.id[:6]}/{event.id}"
        kv.create_or_update_secret(path=path, secret=record, cas=0, mount_point=DEFAULT_MOUNT)
    store = make_store(openbao_server.url(prefix))
    store.migrate()
    store.migrate()
    chain = store.read_audit_chain(after=0, limit=10)
    assert [(e.seq, e.request_id) for e in chain] == [(1, "req-1"), (2, "req-2")]
    assert [e.hash for e in chain] == [chain_hash(e) for e in chain]
    assert chain[1].prev_hash == chain[0].hash
    assert [e.subject for e in chain] == [e.actor for e in chain]  # before the chain, the actor acted for itself
    assert store.list_audit_events(before="", limit=10, flt=AuditFilter()) == list(reversed(chain))
    assert raw(openbao_server, f"{prefix}/schema")[0] == {"version": SCHEMA_VERSION}


_CHAIN_FIELDS = ("seq", "prev_hash", "hash", "client_address", "replica", "subject")


# authentication ---------------------------------------------------------------------


def test_approle_login_works_and_a_revoked_token_is_replaced_without_help(
    openbao_server: OpenBaoServer, make_store: MakeStore
) -> None:
    """The store logs in with role id + secret id, and logs in again when Vault stops honouring its token."""
    prefix = openbao_server.fresh_prefix()
    role_id, secret_id = openbao_server.approle(f"role-{prefix}", prefix_policy(prefix))
    auth = VaultAuth(method=VaultAuthMethod.APPROLE, role_id=role_id, secret_id=Sensitive(secret_id.encode()))
    store = make_store(openbao_server.url(prefix), auth=auth)
    store.migrate()
    store.create_identity(identity("orders"))

    root = openbao_server.client()
    own_token, accessors = root.lookup_token(), root.list("auth/token/accessors")
    assert isinstance(own_token, dict) and isinstance(accessors, dict)  # JSON replies, not raw responses
    own = own_token["data"]["accessor"]
    for accessor in accessors["data"]["keys"]:
        if accessor != own:
            root.auth.token.revoke_accessor(accessor)

    assert store.get_identity("orders").id == "orders"
    assert secret_id not in repr(auth)


def test_approle_login_with_a_wrong_secret_id_fails_clearly(
    openbao_server: OpenBaoServer, make_store: MakeStore
) -> None:
    """A bad secret id is FAILED_PRECONDITION naming the settings to check, never the secret id."""
    prefix = openbao_server.fresh_prefix()
    role_id, _ = openbao_server.approle(f"role-{prefix}", prefix_policy(prefix))
    wrong = "00000000-1111-2222-3333-444444444444"
    auth = VaultAuth(method=VaultAuthMethod.APPROLE, role_id=role_id, secret_id=Sensitive(wrong.encode()))
    with pytest.raises(
        FailedPrecondition, match=r"AppRole login at auth/approle failed.*BROKER_VAULT_SECRET_ID"
    ) as failed:
        make_store(openbao_server.url(prefix), auth=auth).ping()
    assert wrong not in str(failed.value)


def test_an_approle_token_that_expires_is_renewed_by_logging_in_again(
    openbao_server: OpenBaoServer, make_store: MakeStore
) -> None:
    """With a one-second token lifetime the store keeps working across several lifetimes."""
    prefix = openbao_server.fresh_prefix()
    role_id, secret_id = openbao_server.approle(f"short-{prefix}", prefix_policy(prefix), token_ttl="1s")
    auth = VaultAuth(method=VaultAuthMethod.APPROLE, role_id=role_id, secret_id=Sensitive(secret_id.encode()))
    store = make_store(openbao_server.url(prefix), auth=auth)
    store.migrate()
    for i in range(3):
        store.create_identity(identity(f"svc-{i}"))
        time.sleep(1.2)
    assert [i.id for i in store.list_identities(after="", limit=10, flt=IdentityFilter())] == [
        "svc-0",
        "svc-1",
        "svc-2",
    ]


class _TokenReview(BaseHTTPRequestHandler):
    """The one Kubernetes API call Vault's kubernetes auth makes: TokenReview; answers for ns/broker."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        user = {"username": "system:serviceaccount:ns:broker", "uid": "uid-1", "groups": ["system:serviceaccounts"]}
        body = json.dumps(
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "status": {"authenticated": True, "user": user},
            }
        ).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def kubernetes_api() -> Iterator[str]:
    """A local HTTP server speaking the TokenReview part of the Kubernetes API; yields its URL."""
    server = HTTPServer(("127.0.0.1", 0), _TokenReview)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_kubernetes_login_reads_the_service_account_token_file(
    openbao_server: OpenBaoServer, make_store: MakeStore, kubernetes_api: str, tmp_path: Path
) -> None:
    """The store logs in with its projected service-account JWT; a role bound elsewhere is refused clearly."""
    prefix = openbao_server.fresh_prefix()
    mount = f"k8s-{prefix[2:14]}"
    root = openbao_server.client()
    root.sys.enable_auth_method(method_type="kubernetes", path=mount)
    root.write_data(
        f"auth/{mount}/config",
        data={"kubernetes_host": kubernetes_api, "disable_local_ca_jwt": True, "kubernetes_ca_cert": _ca_pem()},
    )
    root.sys.create_or_update_policy(name=f"k8s-{prefix}", policy=prefix_policy(prefix))
    for role in ("broker", "other"):
        root.write_data(
            f"auth/{mount}/role/{role}",
            data={
                "bound_service_account_names": [role],
                "bound_service_account_namespaces": ["ns"],
                "token_policies": [f"k8s-{prefix}"],
                "token_ttl": "1h",
            },
        )
    token_file = tmp_path / "token"
    token_file.write_text(_service_account_jwt("ns", "broker", "uid-1"))

    auth = VaultAuth(method=VaultAuthMethod.KUBERNETES, k8s_role="broker", k8s_token_file=str(token_file), mount=mount)
    store = make_store(openbao_server.url(prefix), auth=auth)
    store.migrate()
    store.create_identity(identity("orders"))
    assert store.get_identity("orders").id == "orders"

    other = dataclasses.replace(auth, k8s_role="other")
    with pytest.raises(FailedPrecondition, match=f"Kubernetes login at auth/{mount} failed.*BROKER_VAULT_K8S_ROLE"):
        make_store(openbao_server.url(prefix), auth=other).ping()


def _service_account_jwt(namespace: str, name: str, uid: str) -> str:
    """A legacy-style service-account token (Vault reads its claims; the TokenReview vouches for it)."""
    claims = {
        "iss": "kubernetes/serviceaccount",
        "sub": f"system:serviceaccount:{namespace}:{name}",
        "kubernetes.io/serviceaccount/namespace": namespace,
        "kubernetes.io/serviceaccount/service-account.name": name,
        "kubernetes.io/serviceaccount/service-account.uid": uid,
    }
    return jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")


def _ca_pem() -> str:
    """A throwaway CA certificate (Vault's kubernetes config insists on one)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test kubernetes CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


# TLS ----------------------------------------------------------------------------------


def test_a_vaults_url_talks_tls_verified_against_the_configured_ca(tls_server: OpenBaoServer) -> None:
    """vaults:// with BROKER_VAULT_CACERT: the store migrates, writes and reads over TLS."""
    with ExitStack() as stack:
        store = root_store(tls_server, tls_server.fresh_prefix(), stack, ca_file=str(tls_server.ca_file))
        assert tls_server.url("x").startswith("vaults://")
        store.create_identity(identity("orders"))
        assert store.get_identity("orders").id == "orders"


def test_a_vaults_url_without_the_right_ca_fails_verification_clearly(tls_server: OpenBaoServer) -> None:
    """A certificate the system CAs do not know is FAILED_PRECONDITION pointing at BROKER_VAULT_CACERT."""
    store = VaultStore(
        tls_server.url("x"), Sealer(TEST_KEK), VaultAuth(token=Sensitive(tls_server.root_token.encode()))
    )
    try:
        with pytest.raises(FailedPrecondition, match="TLS verification failed; set BROKER_VAULT_CACERT"):
            store.ping()
    finally:
        store.close()


# what Vault holds -------------------------------------------------------------------


def test_vault_holds_ciphertext_only_and_no_history_of_destroyed_values(
    openbao_server: OpenBaoServer, make_store: MakeStore
) -> None:
    """No PEM line or value in any stored version; a destroyed value's ciphertext is gone from history too."""
    prefix = openbao_server.fresh_prefix()
    store = make_store(openbao_server.url(prefix))
    store.migrate()
    key = signing_key("sk")
    store.add_signing_key(key)
    store.create_secret(secret("db"), version("db", 1))
    sealed_v1 = raw(openbao_server, f"{prefix}/secrets/db")[0]["versions"][0]["sealed"]
    store.rotate_secret("db", expected_version=1, new=version("db", 2), grace_expire_time=NOW, next_rotation_time=None)
    store.expire_secret_versions(NOW)
    assert store.destroy_expired_material(NOW) == 1

    dump = openbao_server.dump(prefix)
    assert b"sk" in dump and b"db" in dump
    for line in key.private_pem.reveal().splitlines():
        assert line not in dump
    assert b"value-db-1" not in dump and b"value-db-2" not in dump
    assert sealed_v1.encode() not in dump
    metadata = openbao_server.client().secrets.kv.v2.read_secret_metadata(
        path=f"{prefix}/secrets/db", mount_point=DEFAULT_MOUNT
    )
    assert metadata["data"]["max_versions"] == 1
    assert list(metadata["data"]["versions"]) == [str(metadata["data"]["current_version"])]
    assert store.get_secret_version("db", 2).value == version("db", 2).value


def test_a_store_opened_with_another_kek_cannot_read_the_values(
    openbao_server: OpenBaoServer, make_store: MakeStore
) -> None:
    """Replicas must share BROKER_KEK: with another key the sealed values do not open."""
    prefix = openbao_server.fresh_prefix()
    store = make_store(openbao_server.url(prefix))
    store.migrate()
    store.create_secret(secret("db"), version("db", 1))
    other = VaultStore(
        openbao_server.url(prefix), Sealer(bytes(32)), VaultAuth(token=Sensitive(openbao_server.root_token.encode()))
    )
    try:
        with pytest.raises(FailedPrecondition, match="key-encryption key does not match"):
            other.get_secret_version("db", 1)
    finally:
        other.close()


# URL, settings and the backend factory ----------------------------------------------


def test_store_urls_name_address_mount_and_prefix() -> None:
    """vault:// is HTTP, vaults:// TLS; port 8200 and prefix 'broker' by default; deeper prefixes kept."""
    assert VaultLocation.parse("vault://127.0.0.1:8200/secret/broker") == VaultLocation(
        "http://127.0.0.1:8200", "secret", "broker"
    )
    assert VaultLocation.parse("vaults://vault.example/kv") == VaultLocation(
        "https://vault.example:8200", "kv", "broker"
    )
    assert VaultLocation.parse("vault+https://v:9/kv/team/broker").prefix == "team/broker"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("vault://s3cr3t-token@127.0.0.1:8200/secret/broker", "must not carry credentials"),
        ("vault://127.0.0.1:8200", "expected vault://HOST:PORT/MOUNT/PREFIX"),
        ("vault://127.0.0.1:port/secret", "port .* is not a number"),
        ("vault://127.0.0.1/secret/../x", "no query, fragment, '.' or '..'"),
        ("http://127.0.0.1/secret", "is not one of vault"),
    ],
)
def test_malformed_store_urls_are_refused_naming_the_setting(url: str, message: str) -> None:
    """Each malformed URL is a one-line error naming BROKER_STORE_URL; credentials are never echoed."""
    with pytest.raises(ValueError, match=f"BROKER_STORE_URL: .*{message}") as refused:
        VaultLocation.parse(url)
    assert "s3cr3t-token" not in str(refused.value)


def test_open_store_picks_vault_or_sql_by_the_url_scheme(tmp_path: Path) -> None:
    """vault:// opens a VaultStore (nothing contacted yet), a SQLAlchemy URL a SqlStore."""
    env = {
        "BROKER_DATA_DIR": str(tmp_path),
        "BROKER_STORE_URL": "vault://127.0.0.1:1/secret/broker",
        "BROKER_VAULT_TOKEN": "t0ken-value",
    }
    vault = open_store(load_settings(environ=env), Sealer(TEST_KEK))
    sql = open_store(load_settings(environ={"BROKER_DATA_DIR": str(tmp_path)}), Sealer(TEST_KEK))
    try:
        assert isinstance(vault, VaultStore)
        assert isinstance(sql, SqlStore)
        assert "t0ken-value" not in repr(vault)
    finally:
        vault.close()
        sql.close()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "BROKER_VAULT_TOKEN: required"),
        ({"BROKER_VAULT_AUTH": "approle", "BROKER_VAULT_ROLE_ID": "r"}, "BROKER_VAULT_SECRET_ID: both required"),
        ({"BROKER_VAULT_AUTH": "kubernetes"}, "BROKER_VAULT_K8S_ROLE: required"),
        ({"BROKER_VAULT_AUTH": "ldap"}, "BROKER_VAULT_AUTH: 'ldap' is not one of token, approle, kubernetes"),
        (
            {"BROKER_VAULT_TOKEN": "t", "BROKER_VAULT_CACERT": "/nonexistent/ca.pem"},
            "BROKER_VAULT_CACERT: .* not a readable file",
        ),
    ],
)
def test_vault_settings_errors_are_one_line_naming_the_setting(env: dict[str, str], message: str) -> None:
    """A vault:// store with missing or bad BROKER_VAULT_* settings stops start-up with the setting's name."""
    with pytest.raises(SettingsError, match=message):
        load_settings(environ={"BROKER_STORE_URL": "vault://127.0.0.1:8200/secret/broker", **env})


def test_the_vault_token_comes_from_vault_token_too_and_never_shows_in_repr() -> None:
    """VAULT_TOKEN (Vault's own variable) works when BROKER_VAULT_TOKEN is unset; repr hides both secrets."""
    settings = load_settings(
        environ={
            "BROKER_STORE_URL": "vault://127.0.0.1:8200/secret/broker",
            "VAULT_TOKEN": "hvs.from-vault-token",
            "BROKER_VAULT_SECRET_ID": "secret-id-value",
        }
    )
    assert settings.vault_token == "hvs.from-vault-token"
    assert "hvs.from-vault-token" not in repr(settings)
    assert "secret-id-value" not in repr(settings)
    assert load_settings(environ={"BROKER_VAULT_TOKEN": "a", "VAULT_TOKEN": "b"}).vault_token == "a"


def test_the_sql_store_needs_no_vault_settings(tmp_path: Path) -> None:
    """Without a vault:// URL no BROKER_VAULT_* setting is required, even with another auth method named."""
    settings = load_settings(environ={"BROKER_DATA_DIR": str(tmp_path), "BROKER_VAULT_AUTH": "approle"})
    store = open_store(settings, Sealer(TEST_KEK))
    try:
        assert isinstance(store, SqlStore)
    finally:
        store.close()
