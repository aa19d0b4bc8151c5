"""``broker key generate``: a workload's key pair, the private half 0600."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from ..core.algorithms import SIGNING_ALGORITHMS
from ..core.jwk import generate_private_key, private_key_to_pem
from ._common import CliError


def _generate(args: argparse.Namespace) -> None:
    private = generate_private_key(args.alg)
    out = Path(args.private_key_file)
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CliError(f"{out} exists; refusing to overwrite a key") from None
    with os.fdopen(fd, "wb") as f:
        f.write(private_key_to_pem(private))
    public_path = out.with_name(out.name.removesuffix(".pem") + ".pub.pem")
    public_path.write_bytes(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    print(f"private key {out} (mode 0600), public key {public_path}")


def register(sub: Any) -> None:
    """Add ``broker key generate``."""
    key = sub.add_parser("key", help="workload keys")
    key_sub = key.add_subparsers(dest="key_command", required=True)
    gen = key_sub.add_parser("generate", help="write a new private key (0600) and its public key")
    gen.add_argument("private_key_file", help="where the private key goes; the public key goes beside it (.pub.pem)")
    gen.add_argument(
        "--alg", choices=SIGNING_ALGORITHMS, default="ES256", help=f"one of {', '.join(SIGNING_ALGORITHMS)}"
    )
    gen.set_defaults(run=_generate)
