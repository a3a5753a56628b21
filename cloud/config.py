"""Cloud settings: defaults, then `instance/config.py`, then `JC_*` environment variables,
then the test config. `validate_config` checks them all and names the key and the fix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "JC_"
DEV_SECRETS = {"", "dev", "development", "changeme", "secret", "test"}


class ConfigError(ValueError):
    """A setting that cannot work; the message names the key and how to fix it."""


def defaults(instance_path: str) -> dict[str, Any]:
    inst = Path(instance_path)
    return {
        "SECRET_KEY": "dev",  # replaced in production: see docs/cloud.md
        # SQLAlchemy URL; SQLite file in the instance folder unless told otherwise.
        "DATABASE_URL": f"sqlite:///{inst / 'juchong.sqlite'}",
        "CA_DIR": str(inst / "ca"),
        "COMMUNITY_PHOTO_DIR": str(inst / "community_photos"),  # review and gun-report photos
        # Where stations and cloud processes reach the MQTT broker (returned at provisioning).
        "BROKER_HOST": "localhost",
        "BROKER_PORT": 8883,
        # The broker's cloud listener (cloud CA certificates only): ingest, commands, admin.
        "BROKER_CLOUD_PORT": 8884,
        # Mosquitto's pid file: the cloud sends it SIGHUP after writing a new CRL (empty: it
        # cannot, and says so; see docs/cloud.md "Revocation").
        "BROKER_PID_FILE": "",
        # The CRL the broker's station listener loads (`crlfile`); empty: CA_DIR/station/crl.pem.
        "CRL_FILE": "",
        # Who keeps the broker's per-station access control: the cloud, over Mosquitto's
        # dynamic-security plugin ("mosquitto-dynsec"), or someone else ("external").
        "BROKER_ACCESS_CONTROL": "mosquitto-dynsec",
        "BROKER_CA_FILE": "",  # empty: CA_DIR/ca.crt (the broker's cert is issued by our CA)
        "CLOUD_IDENTITY": "jc.cloud",
        "CLOUD_CERT_FILE": str(inst / "cloud" / "cloud.crt"),
        "CLOUD_KEY_FILE": str(inst / "cloud" / "cloud.key"),
        "INGEST_GROUP": "ingest",
        "INGEST_BATCH_MAX": 5000,  # records per DB transaction
        "INGEST_BATCH_WAIT_MS": 50,  # how long a batch may wait to fill
        # A station that sent nothing this long is shown offline (liveness, beside the will).
        "STATION_OFFLINE_AFTER_S": 90,
        "TOKEN_TTL_S": 24 * 3600,
        "STATION_CERT_DAYS": 825,
        "COMMAND_TIMEOUT_S": 10.0,
        # How far ahead of its time a scheduled tariff change is sent to the gateway; 0: at
        # its time only (for gateways older than scheduled tariffs).
        "TARIFF_PUSH_AHEAD_S": 366 * 86400,
        # WeChat mini-program login (code2Session): the app's id and secret, WeChat's address
        "WECHAT_APPID": "",
        "WECHAT_SECRET": "",
        "WECHAT_API_BASE_URL": "https://api.weixin.qq.com",
        "WECHAT_TIMEOUT_S": 5.0,
        # subscribe message template of the session receipt (empty: no receipts; docs/community.md)
        "WECHAT_SUBSCRIBE_RECEIPT_TEMPLATE": "",
        # ... of reservation reminders and of system notices (empty: listed in the driver API only)
        "WECHAT_SUBSCRIBE_REMINDER_TEMPLATE": "",
        "WECHAT_SUBSCRIBE_NOTICE_TEMPLATE": "",
        # minutes before a gun reservation expires or a swap slot starts that its driver is
        # reminded (0: no reminders), for drivers who chose no lead time of their own
        "RESERVATION_REMIND_MINUTES": 10,
        # the lead times (minutes, 1..1440, at most 8) a driver may choose in the clients'
        # settings besides off and the default above
        "RESERVATION_REMIND_CHOICES": "5,10,15,30",
        # The H5 app's login: WeChat Official Account web authorisation (docs/config.md);
        # empty: the H5 app cannot log drivers in (the mini-program can)
        "WECHAT_OA_APPID": "",
        "WECHAT_OA_SECRET": "",
        "WECHAT_OA_AUTHORIZE_URL": "https://open.weixin.qq.com/connect/oauth2/authorize",
        # The H5 app's station map (Leaflet): tile URL template ({s} {x} {y} {z}) and its
        # subdomains; empty URL: the map shows the markers without tiles (offline)
        "H5_MAP_TILE_URL": "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
        "H5_MAP_TILE_SUBDOMAINS": "1234",
        # the tiles' credit line on the map (HTML); empty: the provider's own for AMap and
        # OpenStreetMap tiles (cloud/maptiles.py); other tile hosts need it set
        "H5_MAP_TILE_ATTRIBUTION": "",
        # Drivers: how long a login token lives, how many live logins one driver keeps
        "DRIVER_TOKEN_TTL_S": 30 * 86400,
        "DRIVER_MAX_SESSIONS": 10,
        # Payment password lockout: this many wrong in the window lock it for LOCK_S
        "PAYMENT_PASSWORD_MAX_FAILURES": 5,
        "PAYMENT_PASSWORD_WINDOW_S": 3600,
        "PAYMENT_PASSWORD_LOCK_S": 3 * 3600,
        # --- wallet: WeChat Pay v3 (docs/payments.md); WECHATPAY_MCHID empty: payments off ---
        "WECHATPAY_MCHID": "",
        "WECHATPAY_APPID": "",
        # the official account bound to the merchant, which the H5 app pays under (empty:
        # WECHAT_OA_APPID); docs/payments.md "Channels"
        "WECHATPAY_OA_APPID": "",
        "WECHATPAY_MCH_SERIAL_NO": "",
        "WECHATPAY_MCH_PRIVATE_KEY_FILE": "",
        "WECHATPAY_APIV3_KEY": "",
        "WECHATPAY_PUBLIC_KEY_ID": "",
        "WECHATPAY_PUBLIC_KEY_FILE": "",
        "WECHATPAY_PLATFORM_CERT_FILES": "",
        "WECHATPAY_NOTIFY_URL": "",
        "WECHATPAY_REFUND_NOTIFY_URL": "",
        # a pile owner's withdrawal's result callback (商家转账回调); empty: transfers carry no
        # notify_url and their outcome is learnt by querying the bill (docs/sharing.md)
        "WECHATPAY_TRANSFER_NOTIFY_URL": "",
        "WECHATPAY_BASE_URL": "https://api.mch.weixin.qq.com",
        "WECHATPAY_CONNECT_TIMEOUT_S": 3.0,
        "WECHATPAY_READ_TIMEOUT_S": 10.0,
        # one recharge's bounds in fen (0.01 .. 5,000 CNY)
        "WALLET_RECHARGE_MIN_FEN": 1,
        "WALLET_RECHARGE_MAX_FEN": 500_000,
        # a payment not paid within this long is closed (WeChat's time_expire)
        "WALLET_PAYMENT_EXPIRE_S": 1800,
        # a pending payment older than this is asked about when its driver polls it
        "WALLET_POLL_AFTER_S": 10,
        # the reconcile job asks about pending payments older than this
        "WALLET_RECONCILE_AFTER_S": 300,
        # the refund job resends refund parts still processing after this long
        "WALLET_REFUND_RETRY_AFTER_S": 600,
        # --- charging (docs/cloud.md "Charging") ---
        # The hold of a start not limited by amount, capped at the balance; below the minimum
        # available a start is refused. A driver with a payment password gives it for holds
        # above CHARGING_PAYMENT_PASSWORD_ABOVE_FEN (0: every start).
        "CHARGING_DEFAULT_HOLD_FEN": 10_000,
        "CHARGING_MIN_HOLD_FEN": 500,
        "CHARGING_PAYMENT_PASSWORD_ABOVE_FEN": 0,
        "CHARGING_START_TIMEOUT_S": 10.0,
        # The H5 app's public base URL (the guns' QR codes carry <base>/app/scan?g=<code>)
        "PUBLIC_BASE_URL": "",
        # --- trip planning (docs/trips.md) ---
        # Which road: "auto" (AMap when AMAP_KEY is set, else the OSM file when set, else the
        # straight line), or "amap", "osm", "straight_line"
        "TRIPS_ROUTER": "auto",
        "TRIPS_OSM_FILE": "",  # an OpenStreetMap extract (.osm.pbf) for offline routing
        "TRIPS_DETOUR_FACTOR": 1.3,  # road length per straight length where only that is known
        "TRIPS_STRAIGHT_SPEED_KMH": 80.0,  # assumed speed on the straight-line fallback
        "TRIPS_CORRIDOR_M": 10_000,  # stations at most this far (by road) off the route
        "TRIPS_CAPPED_POWER_PCT": 50.0,  # a capped station starts sessions at this share of rated
        "TRIPS_VALUE_OF_TIME_FEN_PER_H": 3_000,  # time and money weighed: an hour is worth ¥30
        "TRIPS_RESERVE_AHEAD_S": 1_800,  # a reservation can hold a gun this far ahead of arrival
        # --- recommendations: where to charge now (docs/recommend.md) ---
        "RECOMMEND_DETOUR_FACTOR": 1.3,  # road length per straight length (no router plugged in)
        "RECOMMEND_SPEED_KMH": 30.0,  # assumed average city speed for the drive time
        "RECOMMEND_VALUE_OF_TIME_FEN_PER_H": 3_000,  # drive, wait and charge time against money
        "RECOMMEND_ENERGY_WH": 30_000,  # the energy a driver wants when the request does not say
        "RECOMMEND_BATTERY_WH": 60_000,  # a running session's car, to turn its SoC into energy left
        # the best stations of a straight-line ranking given a road drive time by the trip
        # planner's router (TRIPS_ROUTER); 0: straight line only
        "RECOMMEND_ROUTE_TOP_K": 5,
        # AMap Web Service (driving route): key, its private key for `sig` (empty: unsigned)
        "AMAP_KEY": "",
        "AMAP_PRIVATE_KEY": "",
        "AMAP_BASE_URL": "https://restapi.amap.com",
        "AMAP_TIMEOUT_S": 5.0,
        # --- alarms and SMS (docs/alarms.md) ---
        # SMS provider: "log" (writes each message to the log) or "aliyun" (Aliyun SMS SendSms)
        "SMS_PROVIDER": "log",
        "ALIYUN_SMS_ACCESS_KEY_ID": "",
        "ALIYUN_SMS_ACCESS_KEY_SECRET": "",
        "ALIYUN_SMS_SIGN_NAME": "",  # the approved signature (签名), e.g. 聚充科技
        # The approved alarm template (模板 CODE); variables station, alarm, gun, severity, time
        "ALIYUN_SMS_TEMPLATE_ALARM": "",
        "ALIYUN_SMS_BASE_URL": "https://dysmsapi.aliyuncs.com",
        "ALIYUN_SMS_REGION": "cn-hangzhou",
        "ALIYUN_SMS_TIMEOUT_S": 5.0,
        # Alarms at or above this severity (info|warning|major|critical) are sent by SMS
        "ALARM_SMS_MIN_SEVERITY": "major",
        # One SMS per station, alarm kind and phone in this window; more are logged suppressed
        "ALARM_SMS_MIN_INTERVAL_S": 1800,
        "ALARM_SMS_MAX_ATTEMPTS": 5,
        "ALARM_SMS_BACKOFF_S": 60.0,  # first retry after this; doubling, at most an hour
        # A station offline (will or liveness) this long raises the `offline` alarm
        "ALARM_OFFLINE_AFTER_S": 300,
        # --- web (docs/cloud.md "Behind a reverse proxy"): how many reverse proxies in front
        # of the app are trusted to say who the client is (X-Forwarded-For, -Proto); 0: none,
        # the peer address is the client's (a client's own X-Forwarded-For is ignored)
        "TRUSTED_PROXY_HOPS": 0,
        # The console's session cookie (and the H5 app's login cookie) only over https:
        # None means on, except under TESTING. Off outside tests only with ALLOW_PLAIN_HTTP.
        "SESSION_COOKIE_SECURE": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # plain http is intended (a demo on 127.0.0.1): lets SESSION_COOKIE_SECURE be off
        "ALLOW_PLAIN_HTTP": False,
        # --- console (docs/console.md): operator sessions, login lockout, the stations' zone ---
        "CONSOLE_SESSION_TTL_S": 12 * 3600,
        "CONSOLE_IDLE_TIMEOUT_S": 30 * 60,
        "CONSOLE_LOGIN_MAX_FAILURES": 5,
        "CONSOLE_LOGIN_LOCK_S": 15 * 60,
        "CONSOLE_TIMEZONE": "Asia/Shanghai",
        # The home page's map tiles: a Leaflet URL template ({z}/{x}/{y}); empty: no tiles
        # (stations drawn on a plain background). CONSOLE_MAP_DATUM is the tiles' datum:
        # wgs84 (OpenStreetMap and the like: stored GCJ-02 converted, cloud/geo.py) or gcj02.
        "CONSOLE_MAP_TILES": "",
        "CONSOLE_MAP_DATUM": "wgs84",
        # the console map tiles' credit line (HTML); empty: AMap's or OpenStreetMap's own
        "CONSOLE_MAP_ATTRIBUTION": "",
        # --- private pile sharing (docs/sharing.md) ---
        "SHARING_COMMISSION_BP": 1000,  # the platform's commission on a shared pile's sessions (bp)
        "SHARING_TRANSFER_SCENE_ID": "1005",  # the WeChat Pay transfer scene withdrawals use
    }


_INT_KEYS = {
    "RESERVATION_REMIND_MINUTES": (0, 1440),
    "TRUSTED_PROXY_HOPS": (0, 10),
    "BROKER_PORT": (1, 65535),
    "BROKER_CLOUD_PORT": (1, 65535),
    "INGEST_BATCH_MAX": (1, 100_000),
    "INGEST_BATCH_WAIT_MS": (0, 60_000),
    "STATION_OFFLINE_AFTER_S": (5, 86_400),
    "TOKEN_TTL_S": (60, 365 * 24 * 3600),
    "STATION_CERT_DAYS": (1, 3650),
    "TARIFF_PUSH_AHEAD_S": (0, 10 * 366 * 86400),
    "DRIVER_TOKEN_TTL_S": (300, 365 * 86400),
    "DRIVER_MAX_SESSIONS": (1, 100),
    "TRIPS_VALUE_OF_TIME_FEN_PER_H": (0, 1_000_000),
    "RECOMMEND_VALUE_OF_TIME_FEN_PER_H": (0, 1_000_000),
    "RECOMMEND_ENERGY_WH": (1_000, 200_000),
    "RECOMMEND_BATTERY_WH": (10_000, 300_000),
    "RECOMMEND_ROUTE_TOP_K": (0, 20),
    "PAYMENT_PASSWORD_MAX_FAILURES": (1, 10),
    "PAYMENT_PASSWORD_WINDOW_S": (60, 7 * 86400),
    "PAYMENT_PASSWORD_LOCK_S": (60, 30 * 86400),
    # --- wallet ---
    "WALLET_RECHARGE_MIN_FEN": (1, 10**9),
    "WALLET_RECHARGE_MAX_FEN": (1, 10**9),
    "WALLET_PAYMENT_EXPIRE_S": (60, 7 * 86400),
    "WALLET_POLL_AFTER_S": (1, 3600),
    "WALLET_RECONCILE_AFTER_S": (10, 86400),
    "WALLET_REFUND_RETRY_AFTER_S": (10, 7 * 86400),
    # --- charging ---
    "CHARGING_DEFAULT_HOLD_FEN": (100, 500_000),
    "CHARGING_MIN_HOLD_FEN": (1, 100_000),
    "CHARGING_PAYMENT_PASSWORD_ABOVE_FEN": (0, 10_000_000),
    # --- console ---
    "CONSOLE_SESSION_TTL_S": (300, 30 * 86400),
    "CONSOLE_IDLE_TIMEOUT_S": (60, 7 * 86400),
    "CONSOLE_LOGIN_MAX_FAILURES": (1, 50),
    "CONSOLE_LOGIN_LOCK_S": (10, 7 * 86400),
}
_FLOAT_KEYS = {"COMMAND_TIMEOUT_S": (0.1, 600.0), "WECHAT_TIMEOUT_S": (0.1, 60.0),
               "CHARGING_START_TIMEOUT_S": (0.1, 60.0), "AMAP_TIMEOUT_S": (0.1, 60.0),
               "TRIPS_DETOUR_FACTOR": (1.0, 3.0), "TRIPS_STRAIGHT_SPEED_KMH": (10.0, 150.0),
               "TRIPS_CORRIDOR_M": (100.0, 100_000.0), "TRIPS_CAPPED_POWER_PCT": (1.0, 100.0),
               "TRIPS_RESERVE_AHEAD_S": (0.0, 86_400.0), "RECOMMEND_DETOUR_FACTOR": (1.0, 3.0),
               "RECOMMEND_SPEED_KMH": (5.0, 150.0)}


def apply_environment(
    config: MutableMapping[str, Any], environ: Mapping[str, str] | None = None
) -> None:
    """Copy `JC_<KEY>` variables over the known keys (strings; validate_config converts)."""
    environ = os.environ if environ is None else environ
    for key in list(config):
        if ENV_PREFIX + key in environ:
            config[key] = environ[ENV_PREFIX + key]


def validate_config(config: MutableMapping[str, Any]) -> None:
    """Convert and check the settings in place; ConfigError names the key and the fix."""
    where = "set it in instance/config.py or as the environment variable JC_{key}"
    for key, (lo, hi) in _INT_KEYS.items():
        raw = config.get(key)
        try:
            value = int(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ConfigError(
                f"{key}: expected an integer {lo}..{hi}, got {raw!r}; {where.format(key=key)}"
            ) from None
        if not lo <= value <= hi:
            raise ConfigError(f"{key}: {value} is outside {lo}..{hi}; {where.format(key=key)}")
        config[key] = value
    for key, (flo, fhi) in _FLOAT_KEYS.items():
        raw = config.get(key)
        try:
            fvalue = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ConfigError(
                f"{key}: expected a number of seconds, got {raw!r}; {where.format(key=key)}"
            ) from None
        if not flo <= fvalue <= fhi:
            raise ConfigError(f"{key}: {fvalue} is outside {flo}..{fhi}; {where.format(key=key)}")
        config[key] = fvalue
    raw = config.get("RESERVATION_REMIND_CHOICES") or ""
    items = str(raw).replace(",", " ").split() if isinstance(raw, str) else list(raw)
    if (
        not all(re.fullmatch(r"\d{1,4}", str(x)) and 1 <= int(x) <= 1440 for x in items)
        or len(set(map(int, items))) > 8
    ):
        raise ConfigError(
            f"RESERVATION_REMIND_CHOICES: expected up to 8 lead times of 1..1440 minutes like "
            f"'5,10,15,30', got {raw!r}; {where.format(key='RESERVATION_REMIND_CHOICES')}"
        )
    config["RESERVATION_REMIND_CHOICES"] = ",".join(map(str, sorted({int(x) for x in items})))
    url = str(config.get("DATABASE_URL") or "")
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", url):
        raise ConfigError(
            f"DATABASE_URL: {url!r} is not a sqlite:/// or postgresql+psycopg:// URL; "
            + where.format(key="DATABASE_URL")
        )
    if url.startswith("postgresql://"):
        # psycopg 3 is the driver the cloud extra installs; plain postgresql:// means psycopg2.
        config["DATABASE_URL"] = "postgresql+psycopg://" + url[len("postgresql://") :]
    ident = str(config.get("CLOUD_IDENTITY") or "")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", ident) or re.fullmatch(
        r"[A-Za-z0-9_-]{1,64}", ident
    ):
        raise ConfigError(
            f"CLOUD_IDENTITY: {ident!r} must contain a dot (e.g. 'jc.cloud'), so that no station id "
            f"(which cannot contain one) can ever be the same name; {where.format(key='CLOUD_IDENTITY')}"
        )
    group = str(config.get("INGEST_GROUP") or "")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", group):
        raise ConfigError(
            f"INGEST_GROUP: {group!r} must match [A-Za-z0-9_-]{{1,64}}; {where.format(key='INGEST_GROUP')}"
        )
    if not str(config.get("BROKER_HOST") or "").strip():
        raise ConfigError(
            f"BROKER_HOST: must name the broker stations connect to; {where.format(key='BROKER_HOST')}"
        )
    if not config.get("BROKER_CA_FILE"):
        config["BROKER_CA_FILE"] = str(Path(str(config["CA_DIR"])) / "ca.crt")
    if not config.get("CRL_FILE"):
        config["CRL_FILE"] = str(Path(str(config["CA_DIR"])) / "station" / "crl.pem")
    if config.get("TRIPS_ROUTER") not in ("auto", "osm", "amap", "straight_line"):
        raise ConfigError("TRIPS_ROUTER: auto, osm, amap or straight_line; " + where.format(key="TRIPS_ROUTER"))
    if config.get("BROKER_ACCESS_CONTROL") not in ("mosquitto-dynsec", "external"):
        raise ConfigError(
            f"BROKER_ACCESS_CONTROL: {config.get('BROKER_ACCESS_CONTROL')!r} is not "
            "'mosquitto-dynsec' or 'external'; " + where.format(key="BROKER_ACCESS_CONTROL")
        )
    if config["PAYMENT_PASSWORD_LOCK_S"] < config["PAYMENT_PASSWORD_WINDOW_S"]:
        raise ConfigError(
            "PAYMENT_PASSWORD_LOCK_S: must be at least PAYMENT_PASSWORD_WINDOW_S (else more wrong "
            "passwords than PAYMENT_PASSWORD_MAX_FAILURES fit in one window); "
            + where.format(key="PAYMENT_PASSWORD_LOCK_S")
        )
    _validate_wechat(config, where)
    _validate_h5_map(config, where)
    _validate_alarms_sms(config, where)  # alarms
    _validate_wechatpay(config, where)
    _validate_console(config, where)
    _validate_cookies(config, where)
    secret = str(config.get("SECRET_KEY") or "")
    if not config.get("TESTING") and (secret in DEV_SECRETS or len(secret) < 16):
        raise ConfigError(
            "SECRET_KEY: left at a development default (or shorter than 16 characters); "
            "make one with `python -c 'import secrets; print(secrets.token_hex(32))'` and "
            + where.format(key="SECRET_KEY")
        )


def _validate_wechat(config: MutableMapping[str, Any], where: str) -> None:
    """WeChat login settings: none (drivers cannot log in; the API says so) or a usable set."""
    from cloud.wechat.login import LoginConfig

    appid, secret = str(config.get("WECHAT_APPID") or ""), str(config.get("WECHAT_SECRET") or "")
    if not appid and not secret:
        return
    if not appid or not secret:
        key = "WECHAT_SECRET" if appid else "WECHAT_APPID"
        raise ConfigError(f"{key}: WECHAT_APPID and WECHAT_SECRET go together; {where.format(key=key)}")
    try:
        LoginConfig.from_settings(config)
    except ValueError as e:
        raise ConfigError(f"WECHAT_API_BASE_URL: {e}; {where.format(key='WECHAT_API_BASE_URL')}") from None
    _validate_wechat_oa(config, where)


def _validate_wechat_oa(config: MutableMapping[str, Any], where: str) -> None:
    """The official account for the H5 app's login: none, or appid, secret and https URLs."""
    from cloud.wechat.oauth import OAuthConfig

    appid, secret = str(config.get("WECHAT_OA_APPID") or ""), str(config.get("WECHAT_OA_SECRET") or "")
    if not appid and not secret:
        return
    if not appid or not secret:
        key = "WECHAT_OA_SECRET" if appid else "WECHAT_OA_APPID"
        raise ConfigError(f"{key}: WECHAT_OA_APPID and WECHAT_OA_SECRET go together; {where.format(key=key)}")
    if not str(config.get("WECHAT_APPID") or ""):
        # the drivers table names the mini-program's appid; H5 logins are linked to it by unionid
        raise ConfigError(f"WECHAT_APPID: needed with WECHAT_OA_APPID; {where.format(key='WECHAT_APPID')}")
    try:
        OAuthConfig.from_settings(config)
    except ValueError as e:
        raise ConfigError(f"WECHAT_OA_AUTHORIZE_URL: {e}; {where.format(key='WECHAT_OA_AUTHORIZE_URL')}") from None


def _validate_h5_map(config: MutableMapping[str, Any], where: str) -> None:
    """The H5 map's tiles: an https URL template with {x} {y} {z} (plain http only on this
    machine), or empty for no tiles; subdomains are letters or digits."""
    tiles = str(config.get("H5_MAP_TILE_URL") or "")
    if tiles:
        parts = urlsplit(tiles.replace("{s}", "a"))
        local = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost")
        if not (parts.scheme == "https" or local) or not parts.hostname or \
                not all(f"{{{k}}}" in tiles for k in "xyz"):
            raise ConfigError("H5_MAP_TILE_URL: an https:// URL template with {x}, {y} and {z}, or empty; "
                              + where.format(key="H5_MAP_TILE_URL"))
    if not str(config.get("H5_MAP_TILE_SUBDOMAINS") or "").isalnum() and "{s}" in tiles:
        raise ConfigError("H5_MAP_TILE_SUBDOMAINS: letters or digits, one per subdomain; "
                          + where.format(key="H5_MAP_TILE_SUBDOMAINS"))


def _validate_alarms_sms(config: MutableMapping[str, Any], where: str) -> None:
    """Alarm notification and SMS settings (docs/alarms.md): numbers in range, and with
    SMS_PROVIDER "aliyun" every Aliyun key set."""
    for key, lo, hi in (("ALARM_SMS_MIN_INTERVAL_S", 0, 7 * 86400), ("ALARM_SMS_MAX_ATTEMPTS", 1, 50),
                        ("ALARM_OFFLINE_AFTER_S", 10, 7 * 86400)):
        try:
            value = int(config.get(key))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected an integer {lo}..{hi}; {where.format(key=key)}") from None
        if not lo <= value <= hi:
            raise ConfigError(f"{key}: {value} is outside {lo}..{hi}; {where.format(key=key)}")
        config[key] = value
    for key, flo, fhi in (("ALARM_SMS_BACKOFF_S", 0.0, 3600.0), ("ALIYUN_SMS_TIMEOUT_S", 0.1, 60.0)):
        try:
            fvalue = float(config.get(key))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number of seconds; {where.format(key=key)}") from None
        if not flo <= fvalue <= fhi:
            raise ConfigError(f"{key}: {fvalue} is outside {flo}..{fhi}; {where.format(key=key)}")
        config[key] = fvalue
    if config.get("ALARM_SMS_MIN_SEVERITY") not in ("info", "warning", "major", "critical"):
        raise ConfigError("ALARM_SMS_MIN_SEVERITY: one of info, warning, major, critical; "
                          + where.format(key="ALARM_SMS_MIN_SEVERITY"))
    provider = config.get("SMS_PROVIDER")
    if provider not in ("log", "aliyun"):
        raise ConfigError(f"SMS_PROVIDER: {provider!r} is not 'log' or 'aliyun'; " + where.format(key="SMS_PROVIDER"))
    if provider == "aliyun":
        for key in ("ALIYUN_SMS_ACCESS_KEY_ID", "ALIYUN_SMS_ACCESS_KEY_SECRET", "ALIYUN_SMS_SIGN_NAME",
                    "ALIYUN_SMS_TEMPLATE_ALARM"):
            if not str(config.get(key) or "").strip():
                raise ConfigError(f"{key}: required with SMS_PROVIDER 'aliyun'; {where.format(key=key)}")
        if not re.match(r"^https?://[^/]+", str(config.get("ALIYUN_SMS_BASE_URL") or "")):
            raise ConfigError("ALIYUN_SMS_BASE_URL: an http(s) URL such as https://dysmsapi.aliyuncs.com; "
                              + where.format(key="ALIYUN_SMS_BASE_URL"))
def _validate_wechatpay(config: MutableMapping[str, Any], where: str) -> None:
    """WeChat Pay settings: none (the wallet answers 503 payment_not_configured) or a set the
    client can use (keys readable, URLs allowed: WechatPayConfig names what is wrong)."""
    from cloud.payments.wechatpay.config import WechatPayConfig

    if config["WALLET_RECHARGE_MIN_FEN"] > config["WALLET_RECHARGE_MAX_FEN"]:
        raise ConfigError("WALLET_RECHARGE_MIN_FEN: above WALLET_RECHARGE_MAX_FEN; "
                          + where.format(key="WALLET_RECHARGE_MIN_FEN"))
    if not str(config.get("WECHATPAY_MCHID") or "").strip():
        return
    WechatPayConfig.from_settings(config)


def _validate_console(config: MutableMapping[str, Any], where: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    tz = str(config.get("CONSOLE_TIMEZONE") or "")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"CONSOLE_TIMEZONE: {tz!r} is no IANA time zone (e.g. 'Asia/Shanghai'); "
                          + where.format(key="CONSOLE_TIMEZONE")) from None
    if str(config.get("CONSOLE_MAP_DATUM") or "") not in ("wgs84", "gcj02"):
        raise ConfigError("CONSOLE_MAP_DATUM: wgs84 or gcj02; " + where.format(key="CONSOLE_MAP_DATUM"))
    tiles = str(config.get("CONSOLE_MAP_TILES") or "")
    if tiles and not (tiles.startswith(("https://", "/")) and "{z}" in tiles):
        raise ConfigError("CONSOLE_MAP_TILES: an https:// (or same-site /…) URL template with {z}, {x}, {y}; "
                          + where.format(key="CONSOLE_MAP_TILES"))
    if config["CONSOLE_IDLE_TIMEOUT_S"] > config["CONSOLE_SESSION_TTL_S"]:
        raise ConfigError("CONSOLE_IDLE_TIMEOUT_S: must not exceed CONSOLE_SESSION_TTL_S; "
                          + where.format(key="CONSOLE_IDLE_TIMEOUT_S"))


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def _flag(config: MutableMapping[str, Any], key: str, where: str) -> bool:
    raw = config.get(key)
    if isinstance(raw, str):
        if raw.strip().lower() not in _TRUE + _FALSE:
            raise ConfigError(f"{key}: true or false, got {raw!r}; {where.format(key=key)}")
        raw = raw.strip().lower() in _TRUE
    config[key] = bool(raw)
    return bool(raw)


def _validate_cookies(config: MutableMapping[str, Any], where: str) -> None:
    """The console's session cookie is Secure, HttpOnly and SameSite=Lax. Secure off outside
    tests is refused unless ALLOW_PLAIN_HTTP says plain http is meant (a demo on this machine):
    else an operator's session would travel in clear text."""
    if config.get("SESSION_COOKIE_SECURE") is None:
        config["SESSION_COOKIE_SECURE"] = not config.get("TESTING")
    secure = _flag(config, "SESSION_COOKIE_SECURE", where)
    plain = _flag(config, "ALLOW_PLAIN_HTTP", where)
    _flag(config, "SESSION_COOKIE_HTTPONLY", where)
    if str(config.get("SESSION_COOKIE_SAMESITE")) not in ("Lax", "Strict"):
        raise ConfigError("SESSION_COOKIE_SAMESITE: Lax or Strict; " + where.format(key="SESSION_COOKIE_SAMESITE"))
    if not secure and not plain and not config.get("TESTING"):
        raise ConfigError(
            "SESSION_COOKIE_SECURE: off, so the console's session cookie would be sent over plain http "
            "(anyone on the path could take over an operator's session). Serve the console over https "
            "and leave it on; if plain http is really intended (a demo on 127.0.0.1), also set "
            "ALLOW_PLAIN_HTTP=true; " + where.format(key="SESSION_COOKIE_SECURE"))
