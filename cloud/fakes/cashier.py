"""The fake WeChat Pay cashier page (收银台): where a person "pays" an order in the demo.

zh-CN first, English at a click (`lang=en`). The page is opened with the same parameters the
mini-program passes to wx.requestPayment (the fake checks our paySign before showing it), or
as an H5 order's h5_url (prepay_id and package checked), which returns to its redirect_url.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

from flask import render_template_string

from cloud.fakes.page import HEAD

TEXT = {
    "zh-CN": {
        "title": "微信支付（模拟）", "merchant": "收款商户", "item": "商品", "amount": "金额",
        "payer": "付款人", "pay": "确认支付", "cancel": "取消", "other": "English",
        "paid": "支付成功", "cancelled": "已取消支付", "back": "返回商户",
        "error": "无法支付", "note": "这是演示用的模拟收银台，不会产生真实扣款。",
    },
    "en": {
        "title": "WeChat Pay (simulated)", "merchant": "Merchant", "item": "Item", "amount": "Amount",
        "payer": "Payer", "pay": "Pay", "cancel": "Cancel", "other": "中文",
        "paid": "Payment successful", "cancelled": "Payment cancelled", "back": "Back to the merchant",
        "error": "Cannot pay", "note": "A simulated cashier for the demo: no real money moves.",
    },
}

PAGE = HEAD + """.amount{font-size:2.25rem;font-weight:600;text-align:center;margin:.5rem 0 1rem}
button{width:100%;padding:.8rem;border:0;border-radius:.4rem;font-size:1.05rem;margin-top:.6rem}
.pay{background:#07c160;color:#fff}.cancel{background:#f2f2f2;color:#333}
.result{text-align:center;font-size:1.3rem;padding:1rem 0}
</style></head><body><main>
<a class="lang" href="{{ other_href }}">{{ t.other }}</a>
<h1>{{ t.title }}</h1>
{% if error %}
<div class="card result" id="result" data-state="error">{{ t.error }}: {{ error }}</div>
{% elif state %}
<div class="card result" id="result" data-state="{{ state }}">{{ t[state] }}
{% if order %}<div class="amount">¥{{ yuan }}</div>{% endif %}</div>
{% if return_url %}<a id="back" href="{{ return_url }}"><button class="pay" type="button">{{ t.back }}</button></a>{% endif %}
{% else %}
<div class="card">
<div class="amount" id="amount">¥{{ yuan }}</div>
<dl><dt>{{ t.merchant }}</dt><dd>{{ mchid }}</dd>
<dt>{{ t.item }}</dt><dd id="description">{{ order.description }}</dd>
{% if order.openid %}<dt>{{ t.payer }}</dt><dd>{{ order.openid[-6:] }}</dd>{% endif %}</dl>
</div>
<form method="post" action="{{ action }}">
{% for k, v in params.items() %}<input type="hidden" name="{{ k }}" value="{{ v }}">{% endfor %}
<button class="pay" id="pay" name="action" value="pay">{{ t.pay }}</button>
<button class="cancel" id="cancel" name="action" value="cancel">{{ t.cancel }}</button>
</form>
{% endif %}
<p class="note">{{ t.note }}</p>
</main></body></html>"""


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def safe_return_url(url: str | None) -> str | None:
    if not url:
        return None
    return url if urlsplit(url).scheme in ("http", "https") else None


def render(*, lang: str, params: Mapping[str, str], action: str, mchid: str, order: object = None,
           state: str | None = None, error: str | None = None, return_url: str | None = None) -> str:
    lang = lang if lang in TEXT else "zh-CN"
    other = "en" if lang == "zh-CN" else "zh-CN"
    total = getattr(order, "total", 0)
    return render_template_string(
        PAGE, t=TEXT[lang], lang=lang, params=dict(params), action=action, mchid=mchid,
        order=order, yuan=yuan(total), state=state, error=error,
        return_url=safe_return_url(return_url or params.get("return_url")),
        other_href="?" + urlencode({**{k: v for k, v in params.items() if k != "lang"}, "lang": other}))
