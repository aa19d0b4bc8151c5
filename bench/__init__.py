"""Load benchmark of the broker's hot path against a bare gRPC echo baseline (``make bench``)."""
