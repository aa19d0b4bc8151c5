#!/usr/bin/env bash
# Regenerates the committed gRPC stubs from proto/ into the client package.
# protoc writes absolute imports (`from broker.v1 import ...`) that would collide
# with the daemon package `broker`; protoletariat rewrites them to relative ones.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-client/broker_client/_proto}"
rm -rf "$out"
mkdir -p "$out"
protol --create-package --in-place --python-out "$out" \
  protoc --protoc-path "python -m grpc_tools.protoc" --proto-path proto \
  --python_out "$out" --mypy_out "$out" --mypy_grpc_out "$out" --grpc_python_out "$out" \
  proto/broker/v1/*.proto
