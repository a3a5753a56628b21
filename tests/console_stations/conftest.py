"""Fixtures of the stations, guns and archives pages: the console tests' app and client."""

from __future__ import annotations

from tests.console.conftest import app, cheap_argon2, client  # noqa: F401  (fixtures)
