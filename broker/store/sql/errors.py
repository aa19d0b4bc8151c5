"""The SQL store's one translation of "cannot reach the database" into ``Unavailable``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from ...core.errors import StoreUnavailable

_MAX_REASON = 200


@contextmanager
def translate_errors(url: URL, driver_disconnects: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """Turn "cannot reach the database" errors into StoreUnavailable, credentials left out.

    Errors come wrapped by SQLAlchemy, or, on a raw DB-API connection (replay.py),
    as the driver's own ``driver_disconnects``.
    """
    try:
        yield
    except DBAPIError as exc:
        if not isinstance(exc, OperationalError | InterfaceError) and not exc.connection_invalidated:
            raise
        raise StoreUnavailable(_short_reason(exc.orig or exc, url)) from exc
    except PoolTimeoutError as exc:
        raise StoreUnavailable("no free database connection in the pool") from exc
    except driver_disconnects as exc:
        raise StoreUnavailable(_short_reason(exc, url)) from exc


def _short_reason(exc: BaseException, url: URL) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reason = lines[0] if lines else type(exc).__name__
    if url.password:
        reason = reason.replace(str(url.password), "***")
    return reason[:_MAX_REASON]
