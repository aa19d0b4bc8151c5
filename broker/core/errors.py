"""The broker's one error tree. The api layer maps each class to one gRPC status.

::

    BrokerError                      code             gRPC status
    ├── InvalidArgument              invalid_argument INVALID_ARGUMENT
    ├── NotFound                     not_found        NOT_FOUND
    ├── AlreadyExists                already_exists   ALREADY_EXISTS
    ├── Unauthenticated              unauthenticated  UNAUTHENTICATED
    ├── PermissionDenied             permission_denied PERMISSION_DENIED
    ├── FailedPrecondition           failed_precondition FAILED_PRECONDITION
    ├── Conflict                     conflict         ABORTED
    ├── ResourceExhausted            resource_exhausted RESOURCE_EXHAUSTED
    └── Unavailable                  unavailable      UNAVAILABLE
        └── StoreUnavailable         unavailable      UNAVAILABLE   "store unavailable" to callers

Messages are shown to callers: they never hold a secret, a token or a key. Where the
precise reason must stay private (a failed attestation, which store address did not
answer), raise with a generic message and pass the reason in ``detail``, which goes to
the log and the audit record only. ``str()`` of an error is for the log: the message,
and for ``StoreUnavailable`` its reason too.
"""

from __future__ import annotations


class BrokerError(Exception):
    """Base of every error the broker reports to a caller."""

    code = "internal"

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class InvalidArgument(BrokerError):
    """The request is malformed; the message names the field."""

    code = "invalid_argument"


class NotFound(BrokerError):
    """The named resource does not exist."""

    code = "not_found"


class AlreadyExists(BrokerError):
    """A resource with that name exists already."""

    code = "already_exists"


class Unauthenticated(BrokerError):
    """The caller did not prove who it is."""

    code = "unauthenticated"


class PermissionDenied(BrokerError):
    """The caller is known but may not do this."""

    code = "permission_denied"


class FailedPrecondition(BrokerError):
    """The system is not in a state that allows this (e.g. an expired version)."""

    code = "failed_precondition"


class Conflict(BrokerError):
    """A concurrent change won (stale etag, lost compare-and-set)."""

    code = "conflict"


class ResourceExhausted(BrokerError):
    """A quota or size limit was reached."""

    code = "resource_exhausted"


class Unavailable(BrokerError):
    """A dependency (the store, a JWKS endpoint) cannot be reached right now."""

    code = "unavailable"


class StoreUnavailable(Unavailable):
    """The store cannot be reached; callers see only "store unavailable", the log and ``str()`` the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__("store unavailable", detail=reason)
        self.args = (f"store unavailable: {reason}",)
