"""gRPC servicers: parse the request, call core, return. The only layer that knows gRPC."""
