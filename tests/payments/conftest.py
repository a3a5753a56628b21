"""Fixtures of the payment tests: one key set per session, and per test a fake WeChat
(Pay and login) on a free port, a notification receiver, and our real clients against them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.fakes.keys import FakeKeys
from cloud.fakes.server import FakeServer
from cloud.payments.wechatpay import WechatPayClient, WechatPayConfig
from cloud.wechat.login import LoginConfig, WechatLogin
from tests.payments.support import Receiver

RETRY_SCALE = 0.002  # WeChat's first retries (15 s, 15 s, 30 s) become 30 ms, 30 ms, 60 ms


@pytest.fixture(scope="session")
def keys() -> FakeKeys:
    return FakeKeys()


@pytest.fixture
def key_dir(keys: FakeKeys, tmp_path: Path) -> Path:
    return keys.write(tmp_path / "keys")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.close()


@pytest.fixture
def fake(keys: FakeKeys, receiver: Receiver) -> Iterator[FakeServer]:
    with FakeServer.for_keys(keys, retry_scale=RETRY_SCALE, notify_origin=receiver.url) as server:
        yield server


@pytest.fixture
def settings(keys: FakeKeys, key_dir: Path, fake: FakeServer) -> dict[str, str]:
    return keys.settings(key_dir, fake.url)


@pytest.fixture
def config(settings: dict[str, str]) -> WechatPayConfig:
    return WechatPayConfig.from_settings(settings)


@pytest.fixture
def client(config: WechatPayConfig) -> WechatPayClient:
    return WechatPayClient(config)


@pytest.fixture
def login(settings: dict[str, str]) -> WechatLogin:
    return WechatLogin(LoginConfig.from_settings(settings))
