"""IdentityService over real gRPC to the in-process broker: auth, validation, etags and the exact status codes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from broker_client import keys
from broker_client.v1 import identity_pb2, identity_pb2_grpc
from tests.api.harness import ApiBroker
from tests.e2e.harness import Metadata, bearer


def _pem(key: keys.PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def admin(shared_api_broker: ApiBroker) -> Metadata:
    return shared_api_broker.admin_metadata()


@pytest.fixture
def stub(shared_api_broker: ApiBroker) -> Iterator[identity_pb2_grpc.IdentityServiceStub]:
    with shared_api_broker.channel() as channel:
        yield identity_pb2_grpc.IdentityServiceStub(channel)


def _code(call: Callable[[], object]) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code()


def _create(
    stub: identity_pb2_grpc.IdentityServiceStub,
    md: Metadata,
    ident: str,
    *,
    allowed_scopes: Sequence[str] = (),
    allowed_audiences: Sequence[str] = (),
    public_keys: Sequence[identity_pb2.PublicKey] = (),
    tenant: str = "",
) -> identity_pb2.Identity:
    identity = identity_pb2.Identity(
        id=ident,
        kind=identity_pb2.IDENTITY_KIND_SERVICE_ACCOUNT,
        allowed_scopes=allowed_scopes,
        allowed_audiences=allowed_audiences,
        public_keys=public_keys,
        tenant=tenant,
    )
    return stub.CreateIdentity(identity_pb2.CreateIdentityRequest(identity=identity), metadata=md).identity


def test_admin_call_without_token_is_unauthenticated(stub: identity_pb2_grpc.IdentityServiceStub) -> None:
    """No authorization metadata: UNAUTHENTICATED."""
    assert _code(lambda: stub.ListIdentities(identity_pb2.ListIdentitiesRequest())) == grpc.StatusCode.UNAUTHENTICATED


def test_admin_call_with_garbage_token_is_unauthenticated(stub: identity_pb2_grpc.IdentityServiceStub) -> None:
    """A token that is not a broker JWT: UNAUTHENTICATED."""
    md = bearer("not.a.token")
    assert (
        _code(lambda: stub.ListIdentities(identity_pb2.ListIdentitiesRequest(), metadata=md))
        == grpc.StatusCode.UNAUTHENTICATED
    )


def test_non_admin_token_is_permission_denied(
    shared_api_broker: ApiBroker, stub: identity_pb2_grpc.IdentityServiceStub, admin: Metadata
) -> None:
    """A valid broker token without broker.admin: PERMISSION_DENIED."""
    key = ec.generate_private_key(ec.SECP256R1())
    _create(
        stub, admin, "reader", allowed_scopes=["reports.read"], public_keys=[identity_pb2.PublicKey(jwk_json=_pem(key))]
    )
    token = shared_api_broker.exchange("reader", key).access_token
    md = bearer(token)
    assert (
        _code(lambda: stub.ListIdentities(identity_pb2.ListIdentitiesRequest(), metadata=md))
        == grpc.StatusCode.PERMISSION_DENIED
    )


def test_token_for_another_audience_is_refused_by_the_broker_api(
    shared_api_broker: ApiBroker, stub: identity_pb2_grpc.IdentityServiceStub, admin: Metadata
) -> None:
    """A token minted for another service cannot be replayed against the broker's API."""
    key = ec.generate_private_key(ec.SECP256R1())
    _create(
        stub, admin, "elsewhere", allowed_scopes=["broker.admin"], allowed_audiences=["https://other.example"],
        public_keys=[identity_pb2.PublicKey(jwk_json=_pem(key))],
    )  # fmt: skip
    token = shared_api_broker.exchange("elsewhere", key, audiences=["https://other.example"]).access_token
    md = bearer(token)
    assert (
        _code(lambda: stub.ListIdentities(identity_pb2.ListIdentitiesRequest(), metadata=md))
        == grpc.StatusCode.UNAUTHENTICATED
    )


@pytest.mark.parametrize("bad_id", ["Payments", "-lead", "trail-", "a" * 64, "under_score", "", "dot.ted"])
def test_malformed_identity_id_is_invalid_argument(
    stub: identity_pb2_grpc.IdentityServiceStub, admin: Metadata, bad_id: str
) -> None:
    """Ids must be DNS labels; the message names the field."""
    with pytest.raises(grpc.RpcError) as info:
        _create(stub, admin, bad_id)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (info.value.details() or "").startswith("id:")


@pytest.mark.parametrize("scope", ["has space", 'quote"d', "back\\slash", ""])
def test_malformed_scope_is_invalid_argument(
    stub: identity_pb2_grpc.IdentityServiceStub, admin: Metadata, scope: str
) -> None:
    """Scopes must be RFC 6749 scope-tokens."""
    with pytest.raises(grpc.RpcError) as info:
        _create(stub, admin, "badscope", allowed_scopes=[scope])
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "allowed_scopes" in (info.value.details() or "")


@pytest.mark.parametrize(
    "text",
    [
        "not a key",
        '{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}',
        '{"kty": "oct", "k": "c2VjcmV0"}',
    ],
)
def test_malformed_key_is_invalid_argument(
    stub: identity_pb2_grpc.IdentityServiceStub, admin: Metadata, text: str
) -> None:
    """Garbage, invalid JWKs and symmetric keys are refused naming public_key."""
    with pytest.raises(grpc.RpcError) as info:
        _create(stub, admin, "badkey", public_keys=[identity_pb2.PublicKey(jwk_json=text)])
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "public_key" in (info.value.details() or "")


def test_weak_rsa_and_private_keys_are_refused(stub: identity_pb2_grpc.IdentityServiceStub, admin: Metadata) -> None:
    """RSA below 2048 bits and private keys are INVALID_ARGUMENT, and the message holds no key."""
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the point of the test
    with pytest.raises(grpc.RpcError) as info:
        _create(stub, admin, "weak", public_keys=[identity_pb2.PublicKey(jwk_json=_pem(weak))])
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    private_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    with pytest.raises(grpc.RpcError) as info:
        _create(stub, admin, "private", public_keys=[identity_pb2.PublicKey(jwk_json=private_pem)])
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "PRIVATE KEY" not in (info.value.details() or "")


def test_all_three_key_types_are_accepted(
    shared_api_broker: ApiBroker, stub: identity_pb2_grpc.IdentityServiceStub, admin: Metadata
) -> None:
    """EC P-256, Ed25519 and RSA-2048 keys each sign assertions the broker accepts."""
    candidates: list[keys.PrivateKey] = [
        ec.generate_private_key(ec.SECP256R1()),
        ed25519.Ed25519PrivateKey.generate(),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    ]
    for n, key in enumerate(candidates):
        _create(stub, admin, f"kt{n}", public_keys=[identity_pb2.PublicKey(jwk_json=_pem(key))])
        assert shared_api_broker.exchange(f"kt{n}", key).access_token


def test_unknown_identity_is_not_found(stub: identity_pb2_grpc.IdentityServiceStub, admin: Metadata) -> None:
    """Get and delete of a missing identity: NOT_FOUND."""
    assert (
        _code(lambda: stub.GetIdentity(identity_pb2.GetIdentityRequest(id="nobody"), metadata=admin))
        == grpc.StatusCode.NOT_FOUND
    )
    assert (
        _code(lambda: stub.DeleteIdentity(identity_pb2.DeleteIdentityRequest(id="nobody"), metadata=admin))
        == grpc.StatusCode.NOT_FOUND
    )


def test_duplicate_create_is_already_exists(stub: identity_pb2_grpc.IdentityServiceStub, admin: Metadata) -> None:
    """Creating an id twice: ALREADY_EXISTS."""
    _create(stub, admin, "twice")
    assert _code(lambda: _create(stub, admin, "twice")) == grpc.StatusCode.ALREADY_EXISTS


def test_update_with_stale_etag_is_aborted(stub: identity_pb2_grpc.IdentityServiceStub, admin: Metadata) -> None:
    """Two writers from the same etag: the second is ABORTED, nothing of it is stored."""
    created = _create(stub, admin, "etagged", allowed_scopes=["a"])
    first = identity_pb2.UpdateIdentityRequest(
        identity=identity_pb2.Identity(id="etagged", etag=created.etag, allowed_scopes=["b"])
    )
    first.update_mask.paths.append("allowed_scopes")
    updated = stub.UpdateIdentity(first, metadata=admin).identity
    assert updated.etag != created.etag
    second = identity_pb2.UpdateIdentityRequest(
        identity=identity_pb2.Identity(id="etagged", etag=created.etag, allowed_scopes=["c"])
    )
    second.update_mask.paths.append("allowed_scopes")
    assert _code(lambda: stub.UpdateIdentity(second, metadata=admin)) == grpc.StatusCode.ABORTED
    stored = stub.GetIdentity(identity_pb2.GetIdentityRequest(id="etagged"), metadata=admin).identity
    assert list(stored.allowed_scopes) == ["b"]


def test_update_mask_must_name_mutable_fields(stub: identity_pb2_grpc.IdentityServiceStub, admin: Metadata) -> None:
    """An empty mask or an immutable field is INVALID_ARGUMENT."""
    _create(stub, admin, "masked")
    req = identity_pb2.UpdateIdentityRequest(
        identity=identity_pb2.Identity(id="masked", kind=identity_pb2.IDENTITY_KIND_AI_AGENT)
    )
    assert _code(lambda: stub.UpdateIdentity(req, metadata=admin)) == grpc.StatusCode.INVALID_ARGUMENT
    req.update_mask.paths.append("kind")
    assert _code(lambda: stub.UpdateIdentity(req, metadata=admin)) == grpc.StatusCode.INVALID_ARGUMENT


def test_list_pages_through_every_identity(stub: identity_pb2_grpc.IdentityServiceStub, admin: Metadata) -> None:
    """Pagination visits every identity once, in id order; filters narrow the list."""
    for n in range(7):
        _create(stub, admin, f"page-{n}", tenant="paged")
    seen: list[str] = []
    token = ""
    while True:
        page = stub.ListIdentities(
            identity_pb2.ListIdentitiesRequest(page_size=3, page_token=token, filter="tenant=paged"), metadata=admin
        )
        assert len(page.identities) <= 3
        seen.extend(i.id for i in page.identities)
        token = page.next_page_token
        if not token:
            break
    assert seen == [f"page-{n}" for n in range(7)]
    bad = identity_pb2.ListIdentitiesRequest(filter="color=blue")
    assert _code(lambda: stub.ListIdentities(bad, metadata=admin)) == grpc.StatusCode.INVALID_ARGUMENT


def test_exchange_refuses_scope_or_audience_the_identity_lacks(
    shared_api_broker: ApiBroker, stub: identity_pb2_grpc.IdentityServiceStub, admin: Metadata
) -> None:
    """Asking for a scope or audience outside the identity's allow-list: PERMISSION_DENIED."""
    key = ec.generate_private_key(ec.SECP256R1())
    _create(
        stub, admin, "narrow", allowed_scopes=["orders.read"], allowed_audiences=["https://orders.example"],
        public_keys=[identity_pb2.PublicKey(jwk_json=_pem(key))],
    )  # fmt: skip
    with pytest.raises(grpc.RpcError) as info:
        shared_api_broker.exchange("narrow", key, scopes=["orders.write"])
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "orders.write" in (info.value.details() or "")
    with pytest.raises(grpc.RpcError) as info:
        shared_api_broker.exchange("narrow", key, audiences=["https://evil.example"])
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    granted = shared_api_broker.exchange("narrow", key, audiences=["https://orders.example"])
    assert list(granted.scopes) == ["orders.read"]


def test_removed_key_no_longer_attests(
    shared_api_broker: ApiBroker, stub: identity_pb2_grpc.IdentityServiceStub, admin: Metadata
) -> None:
    """add-key then remove-key: assertions signed by the removed key are UNAUTHENTICATED."""
    key = ed25519.Ed25519PrivateKey.generate()
    _create(stub, admin, "rotating")
    added = stub.AddIdentityKey(
        identity_pb2.AddIdentityKeyRequest(identity_id="rotating", public_key=_pem(key)), metadata=admin
    )
    assert added.kid == keys.thumbprint(keys.public_jwk(key))
    assert shared_api_broker.exchange("rotating", key).access_token
    stub.RemoveIdentityKey(identity_pb2.RemoveIdentityKeyRequest(identity_id="rotating", kid=added.kid), metadata=admin)
    with pytest.raises(grpc.RpcError) as info:
        shared_api_broker.exchange("rotating", key)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert info.value.details() == "invalid attestation"
