"""``broker serve`` (the daemon) and ``broker version``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import SettingsError, load_settings, unknown_variables


def _serve(args: argparse.Namespace) -> int:
    from ..lifecycle import run  # noqa: PLC0415 - the daemon's dependencies load only for `serve`

    for warning in unknown_variables(os.environ):
        print(f"broker: warning: {warning}", file=sys.stderr)
    try:
        settings = load_settings(Path(args.config) if args.config else None)
    except SettingsError as exc:
        print(f"broker: {exc}", file=sys.stderr)
        return 2
    return run(settings)


def _version(args: argparse.Namespace) -> None:
    print(__version__)


def register(sub: Any) -> None:
    """Add ``broker serve`` and ``broker version``."""
    serve = sub.add_parser("serve", help="run the daemon")
    serve.add_argument("--config", help="YAML settings file (BROKER_* variables win)")
    serve.set_defaults(run=_serve)
    sub.add_parser("version", help="print the version").set_defaults(run=_version)
