"""Helpers of the console tests: operators made through the service, a login through the
real form (CSRF token read from the page), a clock the app reads instead of the wall's."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Flask
from flask.testing import FlaskClient

from cloud.db import db
from cloud.models.base import now_ms
from cloud.operators import service

PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Clock:
    now: int

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


def fake_clock(app: Flask) -> Clock:
    clock = Clock(now_ms())
    app.extensions["jc_console"]["clock"] = clock
    return clock


def make_operator(app: Flask, login: str, role: str, stations: tuple[str, ...] = (), password: str = PASSWORD) -> None:
    with app.app_context(), db.transaction() as s:
        service.create(s, login, role=role, password=password, stations=stations, actor="test")


def csrf_of(client: FlaskClient, path: str = "/login") -> str:
    m = CSRF_RE.search(client.get(path).text)
    assert m, f"no CSRF token on {path}"
    return m.group(1)


def login(client: FlaskClient, name: str, password: str = PASSWORD, next_: str | None = None):  # noqa: ANN201
    url = "/login" + (f"?next={next_}" if next_ else "")
    return client.post(url, data={"login": name, "password": password, "csrf_token": csrf_of(client)})
