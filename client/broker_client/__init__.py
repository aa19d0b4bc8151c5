"""Thin client for the identity broker.

``broker_client.v1`` holds the generated messages and stubs; ``broker_client.keys`` the
raw key operations (self-signed assertions).
"""

__version__ = "0.1.0"
