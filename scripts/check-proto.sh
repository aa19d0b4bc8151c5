#!/usr/bin/env bash
# Fails when the committed stubs differ from what proto/ generates now.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
scripts/gen-proto.sh "$tmp/_proto" >/dev/null 2>&1
if ! diff -r -q -x __pycache__ "$tmp/_proto" client/broker_client/_proto >/dev/null; then
  diff -r -x __pycache__ "$tmp/_proto" client/broker_client/_proto | head -20
  echo "generated stubs are stale: run 'make proto' and commit the result" >&2
  exit 1
fi
echo "stubs up to date"
