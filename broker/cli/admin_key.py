"""``broker admin key rotate``: a new admin key replaces the old one, which stops working.

The steps, each safe to repeat: a new ES256 key is registered on the ``admin`` identity
(signed for with the old key); a token is fetched with the new key, proving it works;
the new key is written over the key file atomically (a temporary file, mode 0600,
renamed); then the old key is removed from the identity, so it, and every admin token
issued before the removal, is refused from then on. Other replicas' admin keys (each
replica registers the key of its own data directory) are not touched.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from broker_client import keys
from broker_client.v1 import identity_pb2, identity_pb2_grpc

from ..core.jwk import generate_private_key, private_key_to_pem
from ._common import CliError, admin_key_file, admin_metadata, channel, load_key

ADMIN_ID = "admin"


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` (mode 0600) so that a crash leaves the old or the new file, never half."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".new")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _rotate(args: argparse.Namespace) -> None:
    path = Path(args.key_file or admin_key_file())
    if not path.exists():
        raise CliError(f"admin key {path} not found; set BROKER_ADMIN_KEY_FILE or pass --key-file")
    old_kid = keys.thumbprint(keys.public_jwk(load_key(str(path))))
    new_private = generate_private_key("ES256")
    new_pem = private_key_to_pem(new_private)
    public_pem = new_private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with channel() as chan:
        stub = identity_pb2_grpc.IdentityServiceStub(chan)
        added = stub.AddIdentityKey(
            identity_pb2.AddIdentityKeyRequest(identity_id=ADMIN_ID, public_key=public_pem.decode()),
            metadata=admin_metadata(chan, str(path)),
        )
        with tempfile.TemporaryDirectory(dir=path.parent) as scratch:  # prove the new key works before the swap
            trial = Path(scratch) / "new.key"
            trial.write_bytes(new_pem)
            trial.chmod(0o600)
            new_md = admin_metadata(chan, str(trial))
        _write_atomically(path, new_pem)
        stub.RemoveIdentityKey(
            identity_pb2.RemoveIdentityKeyRequest(identity_id=ADMIN_ID, kid=old_kid), metadata=new_md
        )
    print(f"admin key {path} rotated: key {added.kid} registered, key {old_kid} removed")


def register(admin_sub: Any) -> None:
    """Add ``broker admin key rotate``."""
    key = admin_sub.add_parser("key", help="the admin key this CLI signs with")
    sub = key.add_subparsers(dest="admin_key_command", required=True)
    rotate = sub.add_parser("rotate", help="replace the admin key file with a new key; the old key stops working")
    rotate.add_argument("--key-file", help="default: BROKER_ADMIN_KEY_FILE, or data/admin.key")
    rotate.set_defaults(run=_rotate)
