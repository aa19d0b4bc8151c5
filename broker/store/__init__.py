"""Persistence: one Store protocol (base.py), SQL (SQLite, Postgres) and Vault backends."""
