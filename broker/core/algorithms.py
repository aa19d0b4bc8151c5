"""The one registry of JOSE algorithms (joserfc's shape: only recommended ones, by name).

::

    name    the broker signs with it   identity keys (assertions)   external issuers
    ES256   yes (the default)          yes                          yes (default)
    EdDSA   yes                        yes                          yes
    RS256   yes                        yes                          yes (default)
    PS256   no                         no                           yes

HMAC algorithms and ``none`` are in no list, so nothing can ever accept them. Every
check names its list explicitly; the PyJWT algorithm objects here do the signing and
verifying (no hand-written crypto).
"""

from __future__ import annotations

from typing import Any

from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm, RSAPSSAlgorithm

#: What the broker signs its tokens with (BROKER_SIGNING_ALG) and what identity keys verify.
SIGNING: dict[str, Any] = {
    "ES256": ECAlgorithm(ECAlgorithm.SHA256),
    "EdDSA": OKPAlgorithm(),
    "RS256": RSAAlgorithm(RSAAlgorithm.SHA256),
}
#: What a trusted external issuer may be allowed.
EXTERNAL: dict[str, Any] = {**SIGNING, "PS256": RSAPSSAlgorithm(RSAPSSAlgorithm.SHA256)}

SIGNING_ALGORITHMS: tuple[str, ...] = tuple(SIGNING)
EXTERNAL_ALGORITHMS: tuple[str, ...] = ("ES256", "EdDSA", "PS256", "RS256")
#: An external issuer allows these when none are named.
DEFAULT_EXTERNAL_ALGORITHMS: tuple[str, ...] = ("ES256", "RS256")
