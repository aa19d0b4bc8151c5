"""The identity broker daemon: attestations in, short-lived scoped JWTs out."""

__version__ = "0.1.0"
