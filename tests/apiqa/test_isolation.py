"""A driver can never read or touch another driver's profile, tokens, orders, wallet,
recharges or refunds.

Parametrized over every driver operation docs/api/cloud.openapi.yaml documents (tag
`drivers`), so each route another area adds is tried as soon as the document has it. Alice
calls the operation (on a path with an id: with Bob's id) and then:
- her answer holds none of Bob's secrets (his token, nickname, phone, balance, resource ids);
- Bob's own view of all his data (every driver GET, as Bob) is what it was before;
- Bob's token still works;
- on a path with an id of Bob's, Alice gets exactly what a missing id gets: 404 `not_found`,
  same body (the id's existence is not revealed).
Resources are made for both of them (Alice's id answers her: the path is right, the 404 for
Bob's is not a broken route). A documented path whose resource no rule here knows how to make
fails the test instead of passing unseen.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from cloud.db import db
from cloud.fakes.keys import FakeKeys
from cloud.fakes.server import FakeServer
from cloud.ledger import service as ledger
from cloud.orders import service as orders
from tests.apiqa.support import DRIVER_OPS, EXISTING, SPEC, build_app, start_fake
from tests.drivers_api.support import BASE, auth, token_of

PARAM = re.compile(r"\{[^}]+\}")
# Path ids that name one driver's resource (someone else's answers 404), and those that name
# something every driver may see (a station, a gun's QR code).
OWNED = (
    "orders",
    "wallet",
    "reservations",
    "swap-bookings",
    "gun-reports",
    "shared-piles",
    "messages",
    "sharing",
)
PUBLIC = ("stations", "guns", "swap-stations")
BOB_NICK, BOB_PHONE, BOB_BALANCE = "鲍勃-secret-7f3a", "13912345678", 98_765
ALICE_PASSWORD, BOB_PASSWORD = "135790", "246801"

# Bodies Alice sends (valid where she could send them for herself). An operation not listed
# sends its documented example, else {}.
BODIES: dict[tuple[str, str], Any] = {
    (f"{BASE}/logout", "post"): {"everywhere": True},
    (f"{BASE}/me", "patch"): {"nickname": "alice", "phone": "13800138000"},
    (f"{BASE}/payment-password", "post"): {"password": ALICE_PASSWORD},
    (f"{BASE}/payment-password", "put"): {"old_password": BOB_PASSWORD, "new_password": "975310"},
    (f"{BASE}/payment-password/verify", "post"): {"password": BOB_PASSWORD},
    (f"{BASE}/orders", "post"): {"gun_code": "NOPE", "limit": {"mode": "amount", "value": 100}},
    (f"{BASE}/orders/{{order_id}}/rating", "post"): {"stars": 1, "comment": "alice"},
    (f"{BASE}/wallet/recharges", "post"): {"amount_fen": 100},
    (f"{BASE}/wallet/refunds", "post"): {},
}
# Operations Alice repeats (a lock after repeated wrong passwords must stay hers).
# (build_app sets PAYMENT_PASSWORD_MAX_FAILURES and DRIVER_MAX_SESSIONS to 3: one more passes each)
REPEAT = {
    (f"{BASE}/payment-password/verify", "post"): 4,
    (f"{BASE}/payment-password", "put"): 4,
    (f"{BASE}/login", "post"): 4,
}


def collection(path: str) -> str:
    """'/api/v1/driver/orders/{order_id}/stop' → 'orders'; '/api/v1/driver/wallet/recharges/{id}'
    → 'wallet/recharges'."""
    head = PARAM.split(path, 1)[0].rstrip("/")
    return head[len(BASE) + 1 :]


def body_for(path: str, method: str) -> Any:
    if (path, method) in BODIES:
        return BODIES[(path, method)]
    content = SPEC["paths"][path][method].get("requestBody", {}).get("content", {})
    media = content.get("application/json", {})
    if "example" in media:
        return media["example"]
    schema = media.get("schema", {})
    while "$ref" in schema:
        node: Any = SPEC
        for part in schema["$ref"][2:].split("/"):
            node = node[part]
        schema = node
    return schema.get("example", {}) if media else None


def missing_like(value: str) -> str:
    """An id of the same form that names nothing: every digit and letter shifted."""
    out = []
    for ch in value:
        if ch.isdigit():
            out.append(str((int(ch) + 5) % 10))
        elif "a" <= ch <= "z":
            out.append(chr((ord(ch) - 97 + 13) % 26 + 97))
        elif "A" <= ch <= "Z":
            out.append(chr((ord(ch) - 65 + 13) % 26 + 65))
        else:
            out.append(ch)
    return "".join(out)


@dataclass
class Someone:
    name: str
    token: str
    id: int
    user: str = ""  # the fake WeChat's user (whose codes log them in)
    ids: dict[str, str] = field(default_factory=dict)  # collection → one of their resource ids

    @property
    def headers(self) -> dict[str, str]:
        return auth(self.token)


_order_ids = itertools.count(1)


def seed_order(app: Flask, who: Someone) -> str:
    """Two orders of theirs through the order service and the ledger (as billing and charging
    move them): one settled with its bill (its id is the one returned), one charging (their
    current order, kept under "orders:running")."""
    ids = []
    for running in (False, True):
        order_id = f"apiqa-{who.name}-{next(_order_ids)}"
        with app.app_context(), db.transaction() as s:
            ledger.top_up(s, str(who.id), 5_000, key=f"apiqa-topup-{order_id}")
            orders.create(
                s,
                order_id=order_id,
                driver_id=str(who.id),
                sid="ST-APIQA",
                gun="P1-1",
                limit_mode="amount",
                limit_value=2_000,
                hold_fen=2_000,
            )
            orders.apply(s, order_id, "start_sent")
            orders.apply(s, order_id, "session_started", session_id=f"sess-{order_id}"[:36])
            if not running:
                orders.apply(s, order_id, "session_ended")
                orders.apply(
                    s,
                    order_id,
                    "billed",
                    lines=[
                        orders.Line("electricity", 900, "flat", 1_500),
                        orders.Line("service", 300, "flat", 1_500),
                    ],
                )
        ids.append(order_id)
    who.ids["orders:running"] = ids[1]
    return ids[0]


def seed_by_post(coll: str) -> Callable[[Flask, Someone], str]:
    """A resource made through the API's own POST on the collection, as its owner: the first
    `*_id` of the answer."""

    def seed(app: Flask, who: Someone) -> str:
        path = f"{BASE}/{coll}"
        resp = app.test_client().post(path, json=body_for(path, "post"), headers=who.headers)
        assert resp.status_code in (200, 201, 202), (
            path,
            resp.status_code,
            resp.get_data(as_text=True)[:300],
        )
        ids = [v for k, v in resp.json.items() if k.endswith("_id") and isinstance(v, str | int)]
        assert ids, f"POST {path} answered no *_id: {resp.json}"
        return str(ids[0])

    return seed


_guns = itertools.count(1)


def seed_reservation(app: Flask, who: Someone) -> str:
    """Their live reservation of a gun (the row as cloud.reservations.service.reserve leaves
    it once the station confirmed; no station is needed to read or be refused it)."""
    from cloud.models import now_ms
    from cloud.reservations.models import Reservation
    from cloud.stations import service as stations

    rid = f"rv-apiqa-{who.name}-{next(_guns)}"
    with app.app_context(), db.transaction() as s:
        stations.set_station(s, "ST-APIQA", name="apiqa")
        s.add(
            Reservation(
                reservation_id=rid,
                driver_id=str(who.id),
                sid="ST-APIQA",
                gun=f"P{next(_guns)}-1",
                created_at=now_ms(),
                until=now_ms() + 3_600_000,
                state="active",
            )
        )
    return rid


def seed_swap_booking(app: Flask, who: Someone) -> str:
    """Their live swap booking (the row as cloud.swap.service.book leaves it)."""
    from cloud.models import now_ms
    from cloud.stations import service as stations
    from cloud.swap import service as swap
    from cloud.swap.models import SwapBooking

    bid = f"sw-apiqa-{who.name}-{next(_guns)}"
    with app.app_context(), db.transaction() as s:
        if not swap.is_swap(s, "SW-APIQA"):
            stations.set_station(s, "SW-APIQA", name="apiqa swap")
            swap.set_swap_station(s, "SW-APIQA", actor="apiqa")
            swap.set_pack_type(s, "APIQA-75", name="75 kWh", kwh=75, actor="apiqa")
        start = now_ms() + 600_000
        s.add(
            SwapBooking(
                booking_id=bid,
                driver_id=str(who.id),
                sid="SW-APIQA",
                type_code="APIQA-75",
                created_at=now_ms(),
                slot_start=start,
                until=start + 600_000,
                state="booked",
            )
        )
    return bid


def seed_gun_report(app: Flask, who: Someone) -> str:
    """Their report of a broken gun with a photo, through the community service (as the API
    makes it)."""
    from cloud.community import service as community
    from cloud.stations import service as stations
    from tests.community.support import png

    with app.app_context(), db.transaction() as s:
        stations.set_station(s, "ST-APIQA", name="apiqa")
        stations.set_gun(s, "ST-APIQA", "P9-1", code="APIQA-GUN")
        photo_dir = community.photo_dir_for(app.config, app.instance_path)
        photo = community.store_photo(s, photo_dir, str(who.id), png())["photo_id"]
        return str(community.report_gun(s, str(who.id), gun_code="APIQA-GUN", reason="no_power",
                                        text=f"{who.name} secret", photo_id=photo)["report_id"])


def seed_shared_pile(app: Flask, who: Someone) -> str:
    """Their shared pile (the row as cloud.sharing.pairing.register_with_code leaves it), with
    a window. Its id is made long on purpose: Bob's ids are looked for in every answer Alice
    gets, and a one-digit id would be found in any number."""
    from cloud.sharing import service as sharing
    from cloud.sharing.models import SharedPile
    from cloud.stations import service as stations

    n = next(_guns)
    with app.app_context(), db.transaction() as s:
        stations.set_station(s, "ST-APIQA", name="apiqa")
        stations.set_gun(s, "ST-APIQA", f"P{n}-1", code=f"APIQA-SHARE-{n}")
        pile = SharedPile(
            id=7_300_000 + n,
            sid="ST-APIQA",
            gun=f"P{n}-1",
            owner_id=str(who.id),
            commission_bp=1000,
            is_open=False,
        )
        s.add(pile)
        s.flush()
        sharing.set_windows(
            s, str(who.id), pile.id, [{"days": ["mon"], "start": "08:00", "end": "09:00"}]
        )
        return str(pile.id)


def seed_withdrawal(app: Flask, who: Someone) -> str:
    """Their paid withdrawal of pile earnings (the row as cloud.sharing.withdrawals leaves it;
    a paid one is not asked of WeChat Pay again), with a long id as a shared pile's."""
    from cloud.models import now_ms
    from cloud.sharing.models import Withdrawal

    n = next(_guns)
    with app.app_context(), db.transaction() as s:
        s.add(
            Withdrawal(
                id=7_700_000 + n,
                owner_id=str(who.id),
                amount_fen=100,
                out_bill_no=f"WAPIQA{n:025d}",
                openid=f"o-apiqa-{who.name}",
                state="paid",
                created_at=now_ms(),
                updated_at=now_ms(),
            )
        )
    return str(7_700_000 + n)


def seed_message(app: Flask, who: Someone) -> str:
    """A notice in their inbox (the row cloud.community.inbox.publish_notice leaves for each
    addressee), with a long id for the same reason as a shared pile's."""
    from cloud.community.models import DriverMessage

    n = next(_guns)
    with app.app_context(), db.transaction() as s:
        m = DriverMessage(
            id=8_100_000 + n,
            driver_id=str(who.id),
            kind="notice",
            ref=f"apiqa-{n}",
            title_zh=f"{who.name} 通知",
            title_en=f"{who.name} notice",
            body_zh=f"{who.name} secret",
            body_en=f"{who.name} secret",
            send="off",
        )
        s.add(m)
        s.flush()
        return str(m.id)


SEEDERS: dict[str, Callable[[Flask, Someone], str]] = {
    "orders": seed_order,
    "reservations": seed_reservation,
    "swap-bookings": seed_swap_booking,
    "gun-reports": seed_gun_report,
    "shared-piles": seed_shared_pile,
    "messages": seed_message,
    "sharing/withdrawals": seed_withdrawal,
}


def seeder_for(coll: str) -> Callable[[Flask, Someone], str]:
    if coll in SEEDERS:
        return SEEDERS[coll]
    if "post" in SPEC["paths"].get(f"{BASE}/{coll}", {}):
        return seed_by_post(coll)
    raise AssertionError(
        f"{BASE}/{coll}/{{…}} is documented but tests/apiqa/test_isolation.py cannot make one: "
        "add a seeder to SEEDERS"
    )


OWNED_COLLECTIONS = sorted(
    {collection(p) for p, _ in DRIVER_OPS if PARAM.search(p) and p.split("/")[4] in OWNED}
)


@dataclass
class World:
    app: Flask
    client: FlaskClient
    wechat: FakeServer
    alice: Someone
    bob: Someone

    def call(self, who: Someone | None, method: str, path: str, body: Any = None) -> TestResponse:
        kw: dict[str, Any] = {"headers": who.headers if who else {}}
        if body is not None:
            kw["json"] = body
        return self.client.open(path, method=method.upper(), **kw)

    def secrets(self) -> list[str]:
        b = self.bob
        return [b.token, b.token[4:20], BOB_NICK, BOB_PHONE, str(BOB_BALANCE), *b.ids.values()]

    def bob_view(self) -> dict[str, Any]:
        """Everything Bob's GETs show him (his profile, wallet, lists, his resources)."""
        view = {}
        for path, method in DRIVER_OPS:
            if method != "get" or path.split("/")[4] in PUBLIC:
                continue
            concrete = self.concrete(path, self.bob)
            resp = self.call(self.bob, "get", concrete)
            assert resp.status_code < 500, (
                concrete,
                resp.status_code,
                resp.get_data(as_text=True)[:300],
            )
            view[concrete] = (resp.status_code, resp.json)
        return view

    def concrete(self, path: str, owner: Someone) -> str:
        coll = collection(path)
        if not PARAM.search(path):
            return path
        if path.split("/")[4] in OWNED:
            return PARAM.sub(owner.ids[coll], path, count=1)
        return PARAM.sub("APIQA-NONE", path)


_people = itertools.count(1)


def newcomer(app: Flask, wechat: FakeServer, name: str) -> Someone:
    client = app.test_client()
    user = f"{name}-{next(_people)}"
    token = token_of(client, wechat, user)
    who = Someone(name, token, client.get(f"{BASE}/me", headers=auth(token)).json["id"], user)
    for coll in OWNED_COLLECTIONS:
        who.ids[coll] = seeder_for(coll)(app, who)
    return who


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def bobs_world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, keys: FakeKeys
) -> Iterator[World]:
    """One app per database for the module, and Bob in it with all his data; each test gets a
    new Alice (her own attempts may log her out or lock her password)."""
    from tests.cloud.support import postgres_schema

    tmp = tmp_path_factory.mktemp("isolation")
    with contextlib.ExitStack() as stack:
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        mp.setenv("JC_INSTANCE_PATH", str(tmp / "instance"))
        url = (
            f"sqlite:///{tmp / 'cloud.sqlite'}"
            if request.param == "sqlite"
            else stack.enter_context(postgres_schema())
        )
        wechat = start_fake(keys)
        stack.callback(wechat.close)
        app = build_app(tmp, url, keys, wechat)
        client = app.test_client()
        bob = newcomer(app, wechat, "bob")
        resp = client.patch(
            f"{BASE}/me", json={"nickname": BOB_NICK, "phone": BOB_PHONE}, headers=bob.headers
        )
        assert resp.status_code == 200
        assert (
            client.post(
                f"{BASE}/payment-password", json={"password": BOB_PASSWORD}, headers=bob.headers
            ).status_code
            == 201
        )
        with app.app_context(), db.transaction() as s:
            ledger.top_up(s, str(bob.id), BOB_BALANCE, key="apiqa-bob-balance")
        yield World(app, client, wechat, bob, bob)
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def world(bobs_world: World) -> World:
    w = bobs_world
    return World(w.app, w.client, w.wechat, newcomer(w.app, w.wechat, "alice"), w.bob)


def test_the_documented_driver_operations_include_the_existing_ones() -> None:
    """The parametrization below is never empty nor short of the routes that exist."""
    assert EXISTING <= set(DRIVER_OPS), EXISTING - set(DRIVER_OPS)
    for path, _ in DRIVER_OPS:
        if PARAM.search(path):
            assert path.split("/")[4] in OWNED + PUBLIC, (
                f"{path}: is its id a driver's own or public? classify it"
            )


@pytest.mark.parametrize(
    "path, method", DRIVER_OPS, ids=[f"{m.upper()} {p[len(BASE) :]}" for p, m in DRIVER_OPS]
)
def test_a_driver_never_reaches_another_drivers_data(world: World, path: str, method: str) -> None:
    alice, bob = world.alice, world.bob
    before = world.bob_view()
    owned = bool(PARAM.search(path)) and path.split("/")[4] in OWNED
    body = body_for(path, method)
    target = world.concrete(path, bob)
    for i in range(REPEAT.get((path, method), 1)):
        if (path, method) == (f"{BASE}/login", "post"):
            # Alice logs in again and again (past DRIVER_MAX_SESSIONS): only her oldest tokens go.
            resp = world.call(
                None, method, path, {"code": world.wechat.login.issue_code(alice.user)}
            )
            assert resp.status_code == 200 and resp.json["driver"]["id"] == alice.id
            alice.token = resp.json["token"]
        else:
            resp = world.call(alice, method, target, body)
        text = resp.get_data(as_text=True)
        assert resp.status_code < 500, (method, target, resp.status_code, text[:300])
        for secret in world.secrets():
            assert secret not in text and json.dumps(secret)[1:-1] not in text, (
                f"{method.upper()} {target} (try {i}) showed Alice Bob's {secret!r}: {text[:300]}"
            )
        if owned:
            missing = world.call(
                alice,
                method,
                target.replace(bob.ids[collection(path)], missing_like(bob.ids[collection(path)])),
                body,
            )
            assert (resp.status_code, resp.json) == (missing.status_code, missing.json), (
                f"{method.upper()} {target}: Bob's id answers Alice unlike a missing id"
            )
            assert resp.status_code == 404 and resp.json["error"]["code"] == "not_found", (
                resp.status_code,
                text,
            )
    if owned and method == "get":
        mine = world.call(alice, method, world.concrete(path, alice))
        assert mine.status_code == 200, (
            f"Alice's own {path} answers {mine.status_code}: the route is not reached"
        )
    assert world.call(bob, "get", f"{BASE}/me").status_code == 200, "Bob's token stopped working"
    assert world.bob_view() == before, f"{method.upper()} {target} by Alice changed what Bob sees"


def test_bobs_password_stays_his(world: World) -> None:
    """Alice's wrong guesses lock her password, never Bob's; Bob's still verifies."""
    alice, bob = world.alice, world.bob
    assert (
        world.call(
            alice, "post", f"{BASE}/payment-password", {"password": ALICE_PASSWORD}
        ).status_code
        == 201
    )
    for _ in range(world.app.config["PAYMENT_PASSWORD_MAX_FAILURES"]):
        world.call(alice, "post", f"{BASE}/payment-password/verify", {"password": BOB_PASSWORD})
    locked = world.call(
        alice, "post", f"{BASE}/payment-password/verify", {"password": ALICE_PASSWORD}
    )
    assert locked.status_code == 429
    ok = world.call(bob, "post", f"{BASE}/payment-password/verify", {"password": BOB_PASSWORD})
    assert ok.status_code == 200
    assert world.call(bob, "get", f"{BASE}/me").json["payment_password_locked_until"] is None


def test_a_token_is_its_drivers_alone(world: World) -> None:
    """Bob's token is Bob (whoever sends it) and logging Alice out everywhere leaves it live;
    a token mangled into another's shape is refused."""
    alice, bob = world.alice, world.bob
    assert world.call(bob, "get", f"{BASE}/me").json["id"] == bob.id
    assert world.call(alice, "get", f"{BASE}/me").json["id"] == alice.id
    assert world.call(alice, "post", f"{BASE}/logout", {"everywhere": True}).json["revoked"] >= 1
    assert world.call(alice, "get", f"{BASE}/me").status_code == 401
    assert world.call(bob, "get", f"{BASE}/me").status_code == 200
    forged = Someone(
        "forged", bob.token[:-2] + ("AA" if not bob.token.endswith("AA") else "BB"), bob.id
    )
    assert world.call(forged, "get", f"{BASE}/me").status_code == 401


def test_bobs_order_tag_reveals_nothing_to_alice(world: World) -> None:
    """The progress poll's 304 path: Bob's ETag (or `*`) sent by Alice on Bob's orders answers
    exactly as a missing order does, with no tag, and never 304; her own tag of an order of hers
    never validates his (a tag is its driver's); Bob's view stays as it was."""
    alice, bob = world.alice, world.bob
    before = world.bob_view()
    for key in ("orders", "orders:running"):
        url = f"{BASE}/orders/{bob.ids[key]}"
        bobs = world.call(bob, "get", url)
        assert bobs.status_code == 200 and bobs.headers["ETag"].startswith('W/"')
        mine = world.call(alice, "get", f"{BASE}/orders/{alice.ids[key]}")
        assert mine.status_code == 200 and mine.headers["ETag"] != bobs.headers["ETag"]
        missing_url = f"{BASE}/orders/{missing_like(bob.ids[key])}"
        for tag in (bobs.headers["ETag"], "*", mine.headers["ETag"], bobs.headers["ETag"][2:]):
            headers = {**alice.headers, "If-None-Match": tag}
            resp = world.client.get(url, headers=headers)
            missing = world.client.get(missing_url, headers=headers)
            assert resp.status_code == 404 and resp.json["error"]["code"] == "not_found", (
                key,
                tag,
                resp.status_code,
            )
            assert (resp.status_code, resp.json) == (missing.status_code, missing.json), (key, tag)
            assert "ETag" not in resp.headers and "ETag" not in missing.headers
            text = resp.get_data(as_text=True)
            for secret in world.secrets():
                assert secret not in text, (key, tag, secret)
        # Bob's own tag still answers him 304: Alice's tries changed nothing
        again = world.client.get(
            url, headers={**bob.headers, "If-None-Match": bobs.headers["ETag"]}
        )
        assert again.status_code == 304
    assert world.bob_view() == before
