"""docs/payments.md names exactly the settings the clients read and the login errors they raise."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from cloud.payments.wechatpay.config import SETTING_KEYS as PAY_KEYS
from cloud.payments.wechatpay.config import WechatPayConfig
from cloud.wechat.login import ERRCODES, LoginConfig, LoginUnavailable
from cloud.wechat.login import SETTING_KEYS as LOGIN_KEYS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "payments.md").read_text()


class Recording(Mapping[str, Any]):
    def __init__(self, data: dict[str, Any]) -> None:
        self.data, self.asked = data, set()

    def __getitem__(self, key: str) -> Any:
        self.asked.add(key)
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return self.data.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def test_the_clients_read_exactly_their_listed_settings(settings):
    rec = Recording(dict(settings))
    WechatPayConfig.from_settings(rec)
    assert rec.asked == set(PAY_KEYS)
    rec = Recording(dict(settings))
    LoginConfig.from_settings(rec)
    assert rec.asked == set(LOGIN_KEYS)


def test_doc_names_every_setting_and_no_other():
    login_codes = {cls.code for cls in ERRCODES.values()} | {LoginUnavailable.code}
    in_doc = set(re.findall(r"`(WECHAT(?:PAY)?_[A-Z0-9_]+)`", DOC))
    assert in_doc - login_codes == set(PAY_KEYS) | set(LOGIN_KEYS)


def test_doc_login_table_matches_the_errors():
    for errcode, cls in ERRCODES.items():
        row = next(line for line in DOC.splitlines() if line.startswith(f"| {errcode} |"))
        assert f"`{cls.__name__}` (`{cls.code}`)" in row, row
