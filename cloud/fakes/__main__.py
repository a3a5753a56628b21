"""`python -m cloud.fakes keys DIR` makes a key set; `python -m cloud.fakes serve --keys DIR`
runs the fake WeChat (Pay and login) for the demo; `python -m cloud.fakes amap` the fake AMap
(docs/trips.md). docs/payments.md shows both."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cloud.fakes.keys import FAKE_SETTINGS_FILE, FakeKeys
from cloud.fakes.server import FakeServer


@click.group()
def main() -> None:
    """Fake WeChat Pay and WeChat login for tests and the demo."""


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--base-url", default="http://127.0.0.1:8099", show_default=True,
              help="where `serve` will listen: goes into the printed settings")
@click.option("--notify-base", default="https://cloud.example.cn", show_default=True,
              help="https origin of the cloud's callback URLs in the printed settings")
@click.option("--force", is_flag=True, help="replace an existing key set")
def keys(directory: Path, base_url: str, notify_base: str, force: bool) -> None:
    """Write a new merchant + WeChat Pay key set to DIRECTORY and print the cloud's settings."""
    if (directory / FAKE_SETTINGS_FILE).exists() and not force:
        raise click.ClickException(f"{directory} already holds a key set (--force replaces it)")
    k = FakeKeys()
    k.write(directory)
    base = notify_base.rstrip("/")
    settings = k.settings(directory.resolve(), base_url,
                          notify_url=f"{base}/api/v1/pay/wechat/notify",
                          refund_notify_url=f"{base}/api/v1/pay/wechat/refund-notify",
                          transfer_notify_url=f"{base}/api/v1/pay/wechat/transfer-notify")
    for key, value in settings.items():
        click.echo(f"JC_{key}={json.dumps(value) if ' ' in value else value}")


@main.command()
@click.option("--keys", "key_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="a directory written by `python -m cloud.fakes keys`")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8099, show_default=True, type=int)
@click.option("--notify-origin", default=None,
              help="deliver notifications to this origin (e.g. http://127.0.0.1:5000) instead of "
                   "the https host in notify_url")
@click.option("--retry-scale", default=1.0, show_default=True, type=float,
              help="multiply WeChat's retry schedule (15 s … 6 h) by this")
@click.option("--refund-delay", default=2.0, show_default=True, type=float,
              help="seconds a refund stays PROCESSING before it succeeds and is notified")
@click.option("--hold-transfers", is_flag=True,
              help="hold every transfer (a pile owner's withdrawal) for its payee's confirmation "
                   "(WAIT_USER_CONFIRM), given on /fake/transfers or /fake/request-merchant-transfer; "
                   "off: transfers succeed at once")
def serve(key_dir: Path, host: str, port: int, notify_origin: str | None, retry_scale: float,
          refund_delay: float, hold_transfers: bool) -> None:
    """Serve the fake WeChat Pay (/v3/…), login (/sns/jscode2session), the official account's web
    authorisation (/connect/oauth2/authorize, /sns/oauth2/access_token, /sns/userinfo) and cashier."""
    server = FakeServer.for_keys(FakeKeys.read(key_dir), host=host, port=port, retry_scale=retry_scale,
                                 refund_delay_s=refund_delay, notify_origin=notify_origin,
                                 transfer_outcome="WAIT_USER_CONFIRM" if hold_transfers else "SUCCESS")
    click.echo(f"fake WeChat on {server.url} (cashier: {server.url}/fake/cashier)")
    if hold_transfers:
        click.echo(f"transfers wait for their payee: {server.url}/fake/transfers")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


@main.command()
@click.option("--key", default="demo-amap-key", show_default=True, help="the AMAP_KEY it accepts")
@click.option("--private-key", default="demo-amap-private", show_default=True,
              help="the key's private key for `sig` (AMAP_PRIVATE_KEY; empty: signature off)")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8098, show_default=True, type=int)
def amap(key: str, private_key: str, host: str, port: int) -> None:
    """Serve the fake AMap driving route API (/v3/direction/driving) for the trip planner."""
    from cloud.fakes.amap import FakeAmap, FakeAmapServer

    server = FakeAmapServer(FakeAmap({key: private_key}), host=host, port=port)
    click.echo(f"fake AMap on {server.url}: JC_AMAP_BASE_URL={server.url} JC_AMAP_KEY={key} "
               f"JC_AMAP_PRIVATE_KEY={private_key}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
