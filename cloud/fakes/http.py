"""The fakes' HTTP face: one small Flask app serving WeChat's paths and the fake's own pages.

WeChat Pay (api.mch.weixin.qq.com):           WeChat login (api.weixin.qq.com):
  POST /v3/pay/transactions/jsapi                GET  /sns/jscode2session
  POST /v3/pay/transactions/h5
                                                 GET  /sns/oauth2/access_token, /sns/userinfo
Official account web authorisation (open.weixin.qq.com):
  GET  /connect/oauth2/authorize   the authorisation page (POST: the user's Allow / Refuse)
  GET  /v3/pay/transactions/out-trade-no/{no}
  POST /v3/pay/transactions/out-trade-no/{no}/close
  POST /v3/refund/domestic/refunds
  GET  /v3/refund/domestic/refunds/{no}
  POST /v3/fund-app/mch-transfer/transfer-bills
  GET  /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{no}
The fake's own (not WeChat's):
  GET|POST /fake/cashier        the cashier page, opened with the wx.requestPayment parameters
  GET|POST /fake/h5pay/checkmweb  an H5 order's h5_url (wx.tenpay.com's cashier): pay, then
                                back to its redirect_url
  POST /fake/request-payment    the same as JSON: what wx.requestPayment would answer
  POST /fake/pay/orders/{no}/pay  pay an order directly (test and demo scripts)
  GET  /fake/pay/orders, /fake/pay/deliveries   what the fake holds and sent
  POST /fake/wx/login           what wx.login does: {"user": "…"} → {"code": "…"}
  POST /fake/request-merchant-transfer  the payee's WeChat behind wx.requestMerchantTransfer
  GET|POST /fake/transfers      the bills waiting for their payee, confirmed by a person (demo)
Subscribe messages (api.weixin.qq.com, cloud/fakes/wechat_subscribe.py):
  GET  /cgi-bin/token, POST /cgi-bin/message/subscribe/send
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from html import escape
from typing import Any

from flask import Flask, Response, abort, redirect, request

from cloud.fakes import cashier, payee
from cloud.fakes.wechat_login import FakeWechatLogin
from cloud.fakes.wechat_oauth import AuthorizeRefused, FakeWechatOAuth
from cloud.fakes.wechat_subscribe import FakeWechatSubscribe
from cloud.fakes.wechatpay import FakeApiError, FakeWechatPay


def make_app(
    pay: FakeWechatPay | None = None,
    login: FakeWechatLogin | None = None,
    oauth: FakeWechatOAuth | None = None,
    subscribe: FakeWechatSubscribe | None = None,
) -> Flask:
    app = Flask("cloud.fakes")
    app.config["JSON_AS_ASCII"] = False
    if pay is not None:
        _pay_routes(app, pay)
    if login is not None:
        _login_routes(app, login)
    if oauth is not None:
        _oauth_routes(app, oauth)
    if subscribe is not None:
        _subscribe_routes(app, subscribe)
    if pay is not None:
        _transfer_confirm_route(app, pay, login, oauth)
    return app


def _transfer_confirm_route(app: Flask, pay: FakeWechatPay, login: FakeWechatLogin | None,
                            oauth: FakeWechatOAuth | None) -> None:
    @app.post("/fake/request-merchant-transfer")
    def request_merchant_transfer() -> Response:
        """The payee's WeChat behind wx.requestMerchantTransfer: a test's stand-in for it posts
        the page's parameters and the phone's user (whose openid must be the payee's);
        `action: cancel` is the payee closing the page."""
        params = request.get_json(silent=True)
        if not isinstance(params, dict):
            return _json({"errMsg": "requestMerchantTransfer:fail invalid parameters"}, 400)
        user = params.get("user")
        payee = (
            login.openid_for(user) if login is not None and isinstance(user, str) and user else None
        )
        if params.get("action") == "cancel":
            return _json({"errMsg": "requestMerchantTransfer:fail cancel"}, 400)
        try:
            rec = pay.confirm_by_package(params, payee)
        except FakeApiError as e:
            return _json(
                {"errMsg": f"requestMerchantTransfer:fail {e.message}", "code": e.code}, e.status
            )
        return _json({"errMsg": "requestMerchantTransfer:ok", "out_bill_no": rec.out_bill_no})

    @app.route("/fake/transfers", methods=["GET", "POST"])
    def payee_page() -> Response:
        """A person confirming a held transfer in the demo, in place of the payee's WeChat: they
        say who they are (the name they logged in with at the fake WeChat, in the mini-program or
        the H5 app), and only the bill's payee may confirm it, as in WeChat."""
        source = request.form if request.method == "POST" else request.args
        lang = source.get("lang", "zh-CN")
        done, error, status = None, None, 200
        if request.method == "POST":
            no, user = source.get("out_bill_no", ""), source.get("user", "").strip()
            whose = {f.openid_for(user) for f in (login, oauth) if f is not None and user}
            try:
                done = pay.confirm_waiting(no, whose)
            except FakeApiError as e:
                error, status = e.message, e.status
        html = payee.render(lang=lang, bills=pay.waiting_transfers(), done=done, error=error)
        return Response(html, status=status, content_type="text/html; charset=utf-8")


def _subscribe_routes(app: Flask, sub: FakeWechatSubscribe) -> None:
    @app.get("/cgi-bin/token")
    def cgi_token() -> Response:
        return _json(sub.token(request.args))

    @app.post("/cgi-bin/message/subscribe/send")
    def subscribe_send() -> Response:
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError:
            body = None
        return _json(sub.send(request.args.get("access_token", ""), body))


def _json(obj: Any, status: int = 200, content_type: str = "application/json") -> Response:
    return Response(
        json.dumps(obj, ensure_ascii=False),
        status=status,
        content_type=f"{content_type}; charset=utf-8",
    )


def _pay_routes(app: Flask, pay: FakeWechatPay) -> None:
    def signed(status: int, obj: Any | None) -> Response:
        raw = b"" if obj is None else json.dumps(obj, ensure_ascii=False).encode()
        body, headers = pay.sign_answer(raw)
        resp = Response(body, status=status, headers=headers)
        if obj is not None:
            resp.content_type = "application/json; charset=utf-8"
        return resp

    def v3(handler: Callable[..., tuple[int, Any | None]]) -> Callable[..., Response]:
        def view(**kwargs: str) -> Response:
            raw = request.get_data(cache=True)
            # the signature covers the path exactly as sent, percent-encoding included
            path_query = (
                request.environ.get("REQUEST_URI")
                or request.environ.get("RAW_URI")
                or request.full_path.rstrip("?")
            )
            if pay.faults.delay_s:
                time.sleep(pay.faults.delay_s)
            try:
                pay.check_request(
                    request.method, path_query, raw, request.headers.get("Authorization")
                )
                if pay.faults.fail_with:
                    raise FakeApiError(
                        pay.faults.fail_with[0], pay.faults.fail_with[1], "injected failure"
                    )
                body: dict[str, Any] = {}
                if raw:
                    body = json.loads(raw)
                    if not isinstance(body, dict):
                        raise FakeApiError(400, "PARAM_ERROR", "body is not a JSON object")
                status, obj = handler(body, **kwargs)
            except FakeApiError as e:
                status, obj = e.status, {"code": e.code, "message": e.message}
            except ValueError:
                status, obj = 400, {"code": "PARAM_ERROR", "message": "body is not JSON"}
            pay.requests_seen.append((request.method, request.path, status))
            return signed(status, obj)

        view.__name__ = handler.__name__
        return view

    @v3
    def jsapi(body: dict[str, Any]) -> tuple[int, Any]:
        return 200, pay.create_jsapi(body)

    @v3
    def h5(body: dict[str, Any]) -> tuple[int, Any]:
        return 200, pay.create_h5(body, request.host_url)

    @v3
    def query(body: dict[str, Any], no: str) -> tuple[int, Any]:
        return 200, pay.query(no, request.args.get("mchid"))

    @v3
    def close(body: dict[str, Any], no: str) -> tuple[int, Any]:
        pay.close(no, body)
        return 204, None

    @v3
    def refund(body: dict[str, Any]) -> tuple[int, Any]:
        return 200, pay.refund(body)

    @v3
    def query_refund(body: dict[str, Any], no: str) -> tuple[int, Any]:
        return 200, pay.query_refund(no)

    @v3
    def transfer(body: dict[str, Any]) -> tuple[int, Any]:
        return 200, pay.transfer(body)

    @v3
    def query_transfer(body: dict[str, Any], no: str) -> tuple[int, Any]:
        return 200, pay.query_transfer(no)

    app.add_url_rule(
        "/v3/fund-app/mch-transfer/transfer-bills", view_func=transfer, methods=["POST"]
    )
    app.add_url_rule(
        "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/<no>",
        view_func=query_transfer,
        methods=["GET"],
    )
    app.add_url_rule("/v3/pay/transactions/jsapi", view_func=jsapi, methods=["POST"])
    app.add_url_rule("/v3/pay/transactions/h5", view_func=h5, methods=["POST"])
    app.add_url_rule("/v3/pay/transactions/out-trade-no/<no>", view_func=query, methods=["GET"])
    app.add_url_rule(
        "/v3/pay/transactions/out-trade-no/<no>/close", view_func=close, methods=["POST"]
    )
    app.add_url_rule("/v3/refund/domestic/refunds", view_func=refund, methods=["POST"])
    app.add_url_rule("/v3/refund/domestic/refunds/<no>", view_func=query_refund, methods=["GET"])

    def cashier_flow(order: Any, page: Any) -> Response:
        """Both cashier pages once the order is known: GET shows it (or that it is paid), a
        POST pays it or, with action=cancel, leaves it unpaid."""
        if request.method == "GET":
            if order.trade_state in ("SUCCESS", "REFUND"):
                return page(order=order, state="paid")
            if order.trade_state != "NOTPAY":
                return page(400, error=order.trade_state)
            return page(order=order)
        if request.form.get("action") == "cancel":
            return page(order=order, state="cancelled")
        try:
            pay.pay(order.out_trade_no)
        except FakeApiError as e:
            return page(e.status, error=e.message)
        return page(order=order, state="paid")

    @app.route("/fake/cashier", methods=["GET", "POST"])
    def cashier_page() -> Response:
        params = {
            k: v
            for k, v in (request.form if request.method == "POST" else request.args).items()
            if k != "action"
        }
        lang = params.get("lang", "zh-CN")

        def page(status: int = 200, **kw: Any) -> Response:
            html = cashier.render(
                lang=lang, params=params, action="/fake/cashier", mchid=pay.mchid, **kw
            )
            return Response(html, status=status, content_type="text/html; charset=utf-8")

        try:
            order = pay.check_pay_params(params)
        except FakeApiError as e:
            return page(e.status, error=e.message)
        return cashier_flow(order, page)

    @app.route("/fake/h5pay/checkmweb", methods=["GET", "POST"])
    def h5_cashier() -> Response:
        # the page WeChat's h5_url opens: prepay_id and package from h5_url, redirect_url
        # appended by the merchant's page (where the browser goes after paying or not)
        source = request.form if request.method == "POST" else request.args
        params = {
            k: source.get(k, "")
            for k in ("prepay_id", "package", "redirect_url", "lang")
            if source.get(k)
        }
        lang = params.get("lang", "zh-CN")
        shown = {k: v for k, v in params.items() if k != "redirect_url"}

        def page(status: int = 200, **kw: Any) -> Response:
            html = cashier.render(
                lang=lang,
                params=params,
                action="/fake/h5pay/checkmweb",
                mchid=pay.mchid,
                return_url=params.get("redirect_url"),
                **kw,
            )
            return Response(html, status=status, content_type="text/html; charset=utf-8")

        try:
            order = pay.check_h5_params(shown)
        except FakeApiError as e:
            return page(e.status, error=e.message)
        return cashier_flow(order, page)

    @app.post("/fake/request-payment")
    def request_payment() -> Response:
        params = request.get_json(silent=True)
        if not isinstance(params, dict):
            return _json({"errMsg": "requestPayment:fail invalid parameters"}, 400)
        try:
            order = pay.check_pay_params({k: str(v) for k, v in params.items()})
            if params.get("action") == "cancel":
                return _json({"errMsg": "requestPayment:fail cancel"}, 400)
            pay.pay(order.out_trade_no)
        except FakeApiError as e:
            return _json({"errMsg": f"requestPayment:fail {e.message}", "code": e.code}, e.status)
        return _json({"errMsg": "requestPayment:ok"})

    @app.post("/fake/pay/orders/<no>/pay")
    def pay_order(no: str) -> Response:
        try:
            order = pay.pay(no)
        except FakeApiError as e:
            return _json({"code": e.code, "message": e.message}, e.status)
        return _json(pay.transaction(order))

    @app.get("/fake/pay/orders")
    def orders() -> Response:
        return _json(pay.transactions())

    @app.get("/fake/pay/deliveries")
    def deliveries() -> Response:
        return _json([asdict(d) for d in pay.deliveries])


def _login_routes(app: Flask, login: FakeWechatLogin) -> None:
    @app.get("/sns/jscode2session")
    def jscode2session() -> Response:
        # WeChat labels this JSON text/plain; our client must not depend on the label
        return _json(login.exchange(request.args), content_type="text/plain")

    @app.post("/fake/wx/login")
    def wx_login() -> Response:
        data = request.get_json(silent=True) or request.form or {}
        if not isinstance(data, dict) and not hasattr(data, "get"):
            abort(400)
        user = data.get("user")
        openid = data.get("openid")
        if (
            user is not None
            and not isinstance(user, str)
            or openid is not None
            and not isinstance(openid, str)
        ):
            return _json({"errMsg": "login:fail user and openid must be strings"}, 400)
        code = login.issue_code(user, openid=openid, unionid=data.get("unionid") or None)
        return _json({"code": code, "errMsg": "login:ok"})


_AUTHORIZE_FIELDS = ("appid", "redirect_uri", "response_type", "scope", "state")
_AUTHORIZE_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>模拟微信网页授权 · Simulated WeChat authorisation</title>
<style>body{{font:16px system-ui,sans-serif;margin:0;background:#ededed}}main{{max-width:420px;margin:0 auto;padding:24px}}
.card{{background:#fff;border-radius:10px;padding:20px}}input{{width:100%;box-sizing:border-box;padding:10px;margin:8px 0 16px;font-size:16px}}
button{{width:100%;padding:12px;font-size:16px;border:0;border-radius:6px;margin-top:8px}}#allow{{background:#07c160;color:#fff}}
.muted{{color:#777;font-size:14px}}.error{{color:#c0392b}}</style></head>
<body><main><div class="card">{body}</div></main></body></html>"""


def _oauth_routes(app: Flask, oauth: FakeWechatOAuth) -> None:
    @app.route("/connect/oauth2/authorize", methods=["GET", "POST"])
    def authorize() -> Response:
        source = request.form if request.method == "POST" else request.args
        params = {k: source.get(k, "") for k in _AUTHORIZE_FIELDS}
        try:
            oauth.authorize(params)
        except AuthorizeRefused as e:
            body = (
                f"<h1>授权失败 · Authorisation failed</h1><p class='error' id='oauth-error' "
                f"data-errcode='{e.errcode}'>{e.errcode}: {escape(e.message)}</p>"
            )
            return Response(
                _AUTHORIZE_PAGE.format(body=body),
                status=400,
                content_type="text/html; charset=utf-8",
            )
        if request.method == "GET":
            hidden = "".join(
                f'<input type="hidden" name="{k}" value="{escape(v)}">' for k, v in params.items()
            )
            scope_text = (
                "获取你的昵称、头像 · your nickname and avatar"
                if params["scope"] == "snsapi_userinfo"
                else "获取你的身份 · who you are"
            )
            body = (
                f"<h1>模拟微信网页授权</h1><p class='muted'>Simulated WeChat web authorisation "
                f"(demo and tests only). 公众号 {escape(oauth.appid)} 申请：{scope_text}</p>"
                f"<form method='post' action='/connect/oauth2/authorize'>{hidden}"
                f"<label>微信用户 / WeChat user<input id='user' name='user' value='demo-driver' maxlength='32' "
                f"required></label><button id='allow' name='action' value='allow' type='submit'>允许 · Allow</button>"
                f"<button id='deny' name='action' value='deny' type='submit'>拒绝 · Refuse</button></form>"
            )
            return Response(
                _AUTHORIZE_PAGE.format(body=body), content_type="text/html; charset=utf-8"
            )
        user = (request.form.get("user") or "").strip()[:32] or "demo-driver"
        back = oauth.grant(params, user, allow=request.form.get("action") != "deny")
        return redirect(back, code=302)  # type: ignore[return-value]

    @app.get("/sns/oauth2/access_token")
    def access_token() -> Response:
        return _json(oauth.exchange(request.args), content_type="text/plain")

    @app.get("/sns/userinfo")
    def userinfo() -> Response:
        return _json(oauth.userinfo(request.args), content_type="text/plain")
