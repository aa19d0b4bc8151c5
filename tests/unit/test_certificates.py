"""Client certificates as attestations: what a certificate names, x509 bindings, bound tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from broker.core.audit import Auditor
from broker.core.certificates import (
    TOKEN_TYPE_CLIENT_CERTIFICATE,
    CertificateVerifier,
    ClientCertificate,
    check_holder,
)
from broker.core.clock import FakeClock
from broker.core.errors import InvalidArgument, Unauthenticated
from broker.core.exchange import ExchangeRequest, TokenExchange
from broker.core.external import BindingIndex
from broker.core.identities import Binding, Identity, IdentityRegistry
from broker.core.tokens import TokenCore
from broker.store.sql import SqlStore
from tests.unit.conftest import ANYONE, OPERATOR
from tests.unit.exchange_kit import SA, downscope, make_exchange

SPIFFE_ID = "spiffe://example.org/ns/payments/sa/api"


def _pem(common_name: str = "", uris: tuple[str, ...] = ()) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else [])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
    )
    if uris:
        sans = [x509.UniformResourceIdentifier(u) for u in uris]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.PEM)


@pytest.fixture
def exchange(
    tokens: TokenCore, registry: IdentityRegistry, auditor: Auditor, store: SqlStore, clock: FakeClock
) -> TokenExchange:
    certificates = CertificateVerifier(BindingIndex(store, clock), registry.lookup)
    return make_exchange(tokens, registry, auditor, store, clock, certificates=certificates)


def _by_certificate(
    exchange: TokenExchange, pem: bytes | None, *, scopes: tuple[str, ...] = (), actor_token: str = ""
) -> dict[str, object]:
    certificate = ClientCertificate.from_pem(pem) if pem else None
    request = ExchangeRequest(
        subject_token="",
        subject_token_type=TOKEN_TYPE_CLIENT_CERTIFICATE,
        client_certificate=certificate,
        scopes=scopes,
        actor_token=actor_token,
    )
    return dict(exchange.exchange(request, by=ANYONE).minted.claims)


def test_an_svid_is_named_by_its_spiffe_id_and_anything_else_by_its_subject() -> None:
    assert ClientCertificate.from_pem(_pem("api", (SPIFFE_ID,))).name == SPIFFE_ID
    assert ClientCertificate.from_pem(_pem("batch-job")).name == "CN=batch-job"
    assert ClientCertificate.from_pem(_pem("web", ("https://example.com/x",))).name == "CN=web"
    two = ClientCertificate.from_pem(_pem("x", (SPIFFE_ID, "spiffe://example.org/other")))
    assert two.name == "" and "exactly one URI SAN" in two.why_unnamed
    assert ClientCertificate.from_pem(_pem()).name == ""


def test_an_x509_binding_needs_no_trusted_issuer_and_takes_no_claims(registry: IdentityRegistry) -> None:
    bound = Binding(issuer="x509", subject=SPIFFE_ID)
    created = registry.create(Identity(id="payments", kind=SA, bindings=(bound,)), by=OPERATOR)
    assert created.bindings == (bound,)
    with pytest.raises(InvalidArgument, match="no claims to require"):
        registry.create(Identity(id="other", kind=SA, bindings=(Binding("x509", "CN=x", {"team": "a"}),)), by=OPERATOR)


def test_the_certificate_exchange_binds_the_token_and_down_scoping_keeps_it(
    exchange: TokenExchange, registry: IdentityRegistry
) -> None:
    registry.create(
        Identity(id="payments", kind=SA, allowed_scopes=("a", "b"), bindings=(Binding("x509", SPIFFE_ID),)),
        by=OPERATOR,
    )
    pem = _pem("api", (SPIFFE_ID,))
    thumbprint = ClientCertificate.from_pem(pem).thumbprint
    claims = _by_certificate(exchange, pem, scopes=("a",))
    assert claims["sub"] == "payments" and claims["cnf"] == {"x5t#S256": thumbprint}

    token = exchange.exchange(
        ExchangeRequest(
            subject_token="",
            subject_token_type=TOKEN_TYPE_CLIENT_CERTIFICATE,
            client_certificate=ClientCertificate.from_pem(pem),
        ),
        by=ANYONE,
    ).minted.token
    with pytest.raises(Unauthenticated):
        downscope(exchange, token, scopes=("a",))  # no certificate on the connection
    with pytest.raises(Unauthenticated):
        downscope(exchange, token, client_certificate=ClientCertificate.from_pem(_pem("thief")))
    narrowed = downscope(exchange, token, scopes=("a",), client_certificate=ClientCertificate.from_pem(pem))
    assert narrowed.minted.claims["cnf"] == {"x5t#S256": thumbprint}


def test_no_certificate_an_unbound_one_or_a_disabled_identity_is_a_bad_attestation(
    exchange: TokenExchange, registry: IdentityRegistry
) -> None:
    registry.create(Identity(id="batch", kind=SA, bindings=(Binding("x509", "CN=batch-job"),)), by=OPERATOR)
    for pem in (None, _pem("stranger"), _pem("x", (SPIFFE_ID, "spiffe://example.org/y"))):
        with pytest.raises(Unauthenticated, match="invalid attestation"):
            _by_certificate(exchange, pem)
    assert _by_certificate(exchange, _pem("batch-job"))["sub"] == "batch"
    registry.update("batch", {"disabled": True}, by=OPERATOR)
    with pytest.raises(Unauthenticated) as disabled:
        _by_certificate(exchange, _pem("batch-job"))
    assert "disabled" in (disabled.value.detail or "")
    with pytest.raises(InvalidArgument, match="must be empty"):
        _by_certificate(exchange, _pem("batch-job"), actor_token="x")


def test_check_holder_passes_unbound_tokens_and_only_the_bound_certificate() -> None:
    cert = ClientCertificate(thumbprint="abc", name="CN=a")
    check_holder({"sub": "a"}, None)
    check_holder({"cnf": {"x5t#S256": "abc"}}, cert)
    for presented in (None, ClientCertificate(thumbprint="abd", name="CN=a")):
        with pytest.raises(Unauthenticated):
            check_holder({"cnf": {"x5t#S256": "abc"}}, presented)
