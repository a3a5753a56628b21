"""The alarm and SMS settings are checked at start; `jc-cloud alarms …` on the app's CLI,
with the real Aliyun client against the fake when configured so."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update

from cloud import create_app
from cloud.alarms.models import AlarmNotification
from cloud.config import ConfigError
from cloud.db import db
from cloud.fakes.sms import FakeAliyunSms, FakeSmsServer
from cloud.migrate import upgrade
from cloud.models import Station, StationState

BASE = {"TESTING": True}


def make(tmp_path: Path, **extra: object):
    return create_app({**BASE, "DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite'}",
                       "CA_DIR": str(tmp_path / "ca"), **extra})


@pytest.mark.parametrize(("extra", "needle"), [
    ({"SMS_PROVIDER": "twilio"}, "SMS_PROVIDER"),
    ({"SMS_PROVIDER": "aliyun"}, "ALIYUN_SMS_ACCESS_KEY_ID"),
    ({"SMS_PROVIDER": "aliyun", "ALIYUN_SMS_ACCESS_KEY_ID": "k", "ALIYUN_SMS_ACCESS_KEY_SECRET": "s",
      "ALIYUN_SMS_SIGN_NAME": "n"}, "ALIYUN_SMS_TEMPLATE_ALARM"),
    ({"ALARM_SMS_MIN_SEVERITY": "loud"}, "ALARM_SMS_MIN_SEVERITY"),
    ({"ALARM_SMS_MAX_ATTEMPTS": "0"}, "ALARM_SMS_MAX_ATTEMPTS"),
    ({"ALARM_SMS_BACKOFF_S": "soon"}, "ALARM_SMS_BACKOFF_S"),
])  # fmt: skip
def test_bad_settings_name_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: dict, needle: str) -> None:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    with pytest.raises(ConfigError) as e:
        make(tmp_path, **extra)
    assert needle in str(e.value)


def test_cli_recipients_and_sweep_sends_through_aliyun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    fake = FakeAliyunSms({"LTAIcli": "cli-secret"}, sign_names={"聚充科技"},
                         templates={"SMS_777": ["station", "alarm", "gun", "severity", "time"]})
    with FakeSmsServer(fake) as srv:
        app = make(tmp_path, SMS_PROVIDER="aliyun", ALIYUN_SMS_ACCESS_KEY_ID="LTAIcli",
                   ALIYUN_SMS_ACCESS_KEY_SECRET="cli-secret", ALIYUN_SMS_SIGN_NAME="聚充科技",
                   ALIYUN_SMS_TEMPLATE_ALARM="SMS_777", ALIYUN_SMS_BASE_URL=srv.url, ALARM_OFFLINE_AFTER_S="60")
        with app.app_context():
            upgrade(db.engine)
            with db.transaction() as s:
                s.add(Station(sid="S9", name="九号站"))
                s.flush()
                s.add(StationState(sid="S9", online=False, claimed_online=False, last_seen=1_000))
        runner = app.test_cli_runner()
        r = runner.invoke(args=["alarms", "recipient-add", "S9", "13800138000", "--name", "值班"])
        assert r.exit_code == 0 and "13800138000" in r.output, r.output
        assert runner.invoke(args=["alarms", "recipient-add", "S9", "123"]).exit_code != 0
        assert "值班" in runner.invoke(args=["alarms", "recipients", "S9"]).output
        r = runner.invoke(args=["alarms", "sweep"])
        assert r.exit_code == 0 and "offline=1" in r.output and "sent=1" in r.output, r.output
        assert [(m.phone, m.params["station"], m.params["alarm"]) for m in fake.sent] == [
            ("13800138000", "九号站", "站点离线")]
        with app.app_context(), db.transaction() as s:
            n = s.scalars(select(AlarmNotification)).one()
            assert (n.status, n.provider, n.provider_ref) == ("sent", "aliyun", fake.sent[0].biz_id)
            s.execute(update(StationState).values(online=True))
        assert "offline=1" in runner.invoke(args=["alarms", "sweep"]).output  # cleared
        assert "removed" in runner.invoke(args=["alarms", "recipient-remove", "S9", "13800138000"]).output
