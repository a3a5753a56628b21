"""The driver settings are cloud settings: defaults, JC_* environment variables, checked at
start with the key and the fix named."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud import create_app
from cloud.config import ConfigError
from cloud.drivers.service import DriverSettings
from tests.drivers_api.support import APPID, BASE, SECRET


def _app(tmp_path: Path, **cfg: object):
    return create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'a.sqlite'}", **cfg})


@pytest.mark.parametrize("cfg, needle", [
    ({"WECHAT_APPID": APPID}, "WECHAT_SECRET"),
    ({"WECHAT_SECRET": SECRET}, "WECHAT_APPID"),
    ({"WECHAT_APPID": APPID, "WECHAT_SECRET": SECRET, "WECHAT_API_BASE_URL": "http://wechat.example.cn"},
     "WECHAT_API_BASE_URL"),
    ({"WECHAT_TIMEOUT_S": "0"}, "WECHAT_TIMEOUT_S"),
    ({"DRIVER_TOKEN_TTL_S": "10"}, "DRIVER_TOKEN_TTL_S"),
    ({"DRIVER_MAX_SESSIONS": "0"}, "DRIVER_MAX_SESSIONS"),
    ({"PAYMENT_PASSWORD_MAX_FAILURES": "11"}, "PAYMENT_PASSWORD_MAX_FAILURES"),
    ({"PAYMENT_PASSWORD_WINDOW_S": "7200", "PAYMENT_PASSWORD_LOCK_S": "3600"}, "PAYMENT_PASSWORD_LOCK_S"),
])
def test_bad_driver_settings_name_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cfg, needle) -> None:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    with pytest.raises(ConfigError, match=needle):
        _app(tmp_path, **cfg)


def test_environment_sets_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("JC_WECHAT_APPID", APPID)
    monkeypatch.setenv("JC_WECHAT_SECRET", SECRET)
    monkeypatch.setenv("JC_WECHAT_API_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("JC_PAYMENT_PASSWORD_MAX_FAILURES", "3")
    monkeypatch.setenv("JC_DRIVER_TOKEN_TTL_S", "600")
    app = _app(tmp_path)
    s = DriverSettings.from_settings(app.config)
    assert (s.appid, s.lockout.max_failures, s.token_ttl_ms) == (APPID, 3, 600_000)
    # the login client goes where the setting says: nothing listens on port 9
    resp = app.test_client().post(f"{BASE}/login", json={"code": "abcdef"})
    assert resp.status_code == 503 and resp.json["error"]["code"] == "wechat_unavailable"
