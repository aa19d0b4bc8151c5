"""structlog set-up: the one global the broker keeps, with a reset for tests.

Every log line is one JSON object (or a console line) carrying the request id bound
for the current RPC. Token-shaped strings are masked by a last-chance processor, so a
careless ``log.info(token=...)`` still never writes a credential. Records of the
standard ``logging`` module (aiohttp's "Error handling request" with its traceback,
asyncio, APScheduler) go through the same chain: one JSON line each, masked alike.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return _JWT.sub("[token]", value)
    return value


def mask_tokens(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace anything shaped like a JWT in string values with ``[token]``."""
    for key, value in event.items():
        event[key] = _mask(value)
    return event


def _add_worker(worker: int) -> structlog.types.Processor:
    def add(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event["worker"] = worker
        return event

    return add


_HANDLER_NAME = "broker-structlog"


def configure(*, fmt: str = "json", level: str = "info", worker: int | None = None) -> None:
    """Configure structlog and the standard ``logging`` root (idempotent); ``worker`` is added to every line."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        *([] if worker is None else [_add_worker(worker)]),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, mask_tokens, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                mask_tokens,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != _HANDLER_NAME] + [handler]
    root.setLevel(max(_LEVELS[level], logging.WARNING))  # libraries' own chatter (a line per job run) stays out


def reset() -> None:
    """Back to structlog's defaults, and the standard root logger without the broker's handler (tests)."""
    structlog.reset_defaults()
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != _HANDLER_NAME]
