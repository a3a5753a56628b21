"""The payer IP of an H5 payment (scene_info.payer_client_ip) behind a reverse proxy (audit
finding: it was the proxy's address): X-Forwarded-For is believed from TRUSTED_PROXY_HOPS
trusted proxies only; with 0 (the default) a client's own header changes nothing. Checked
at the fake WeChat Pay, which keeps what our signed order said."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from cloud.db import db
from cloud.fakes.keys import FakeKeys
from cloud.fakes.server import FakeServer
from tests.wallet.conftest import build_app, wallet_settings
from tests.wallet.support import BASE, AppServer, auth, login

PROXY = "10.0.0.5"  # the peer the app sees: nginx on the private network


@pytest.fixture
def make(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys: FakeKeys, fake: FakeServer,
         server: AppServer) -> Iterator:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    made: list[Flask] = []

    def build(hops: int | None) -> Flask:
        extra = {} if hops is None else {"TRUSTED_PROXY_HOPS": hops}
        app = build_app(tmp_path, f"sqlite:///{tmp_path / f'p{len(made)}.sqlite'}",
                        wallet_settings(keys, tmp_path, fake), **extra)
        server.app = app
        made.append(app)
        return app

    yield build
    for app in made:
        with app.app_context():
            db.engine.dispose()


def payer_ip(app: Flask, fake: FakeServer, user: str, forwarded: str | None) -> str | None:
    assert fake.pay is not None
    client = app.test_client()
    token, _ = login(client, fake, user)
    headers = {**auth(token), **({"X-Forwarded-For": forwarded, "X-Forwarded-Proto": "https"} if forwarded else {})}
    r = client.post(f"{BASE}/wallet/recharges", json={"amount_fen": 100, "channel": "h5"}, headers=headers,
                    environ_base={"REMOTE_ADDR": PROXY})
    assert r.status_code == 201, r.get_data(as_text=True)
    return fake.pay.orders[r.json["recharge_id"]].payer_client_ip


@pytest.mark.parametrize(("hops", "forwarded", "expected"), [
    (None, None, PROXY),  # default: no proxy trusted, the peer is the client
    (None, "203.0.113.7", PROXY),  # a client's own header is ignored: it cannot choose its IP
    (0, "203.0.113.7", PROXY),
    (1, "203.0.113.7", "203.0.113.7"),  # one nginx: the address it saw
    (1, "198.51.100.66, 203.0.113.7", "203.0.113.7"),  # what the client put before it is not believed
    (2, "198.51.100.66, 203.0.113.7, 10.0.0.9", "203.0.113.7"),  # CDN and nginx
])
def test_payer_ip_from_trusted_hops_only(make, fake: FakeServer, hops: int | None, forwarded: str | None,
                                         expected: str) -> None:
    app = make(hops)
    assert payer_ip(app, fake, f"ip-{hops}-{len(forwarded or '')}", forwarded) == expected


def test_the_scheme_from_a_trusted_proxy(make) -> None:
    """x_proto too: behind one trusted proxy the app knows the request came over https."""
    app = make(1)
    seen = {}

    @app.get("/_scheme")
    def scheme() -> str:
        from flask import request
        seen["scheme"] = request.scheme
        return ""
    app.test_client().get("/_scheme", headers={"X-Forwarded-Proto": "https"})
    assert seen["scheme"] == "https"
