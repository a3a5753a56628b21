"""The payee's side of a held transfer (商家转账, 用户确认模式) as a page, for a person in the demo.

WeChat shows the payee a "确认收款" page when the merchant's mini-program calls
wx.requestMerchantTransfer. The demo runs no mini-program in a real WeChat, so the fake lists
the bills waiting for their payee at /fake/transfers (zh-CN first, English at a click,
`lang=en`) and confirms one when asked: the bill is SUCCESS and its result callback goes to
the merchant, as after a confirmation in WeChat.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlencode

from flask import render_template_string

from cloud.fakes.cashier import yuan
from cloud.fakes.page import HEAD
from cloud.fakes.wechatpay import TransferRecord

TEXT = {
    "zh-CN": {
        "title": "微信收款确认（模拟）",
        "none": "没有等待确认的转账。",
        "amount": "金额",
        "remark": "备注",
        "payee": "收款人",
        "bill": "商户单号",
        "confirm": "确认收款",
        "confirmed": "收款成功",
        "error": "无法收款",
        "other": "English",
        "note": "这是演示用的模拟页面，代替收款人在微信里的确认，不会产生真实转账。",
        "user": "你的微信用户名（在模拟微信登录时填写的名字）",
    },
    "en": {
        "title": "WeChat: confirm receipt (simulated)",
        "none": "No transfer is waiting for its payee.",
        "amount": "Amount",
        "remark": "Remark",
        "payee": "Payee",
        "bill": "Merchant bill",
        "confirm": "Confirm receipt",
        "confirmed": "Received",
        "error": "Cannot receive",
        "other": "中文",
        "note": "A simulated page for the demo, in place of the payee's confirmation in WeChat: "
        "no real money moves.",
        "user": "Your WeChat user (the name you logged in with at the simulated WeChat)",
    },
}

PAGE = HEAD + """.amount{font-size:2rem;font-weight:600;text-align:center;margin:.25rem 0 .75rem}
button{width:100%;padding:.8rem;border:0;border-radius:.4rem;font-size:1.05rem;margin-top:.8rem;
background:#07c160;color:#fff}
.result{text-align:center;font-size:1.2rem}
</style></head><body><main>
<a class="lang" href="?{{ other }}">{{ t.other }}</a>
<h1>{{ t.title }}</h1>
{% if done %}<div class="card result" id="result" data-state="confirmed">{{ t.confirmed }}
<div class="amount">¥{{ yuan(done.amount) }}</div></div>{% endif %}
{% if error %}<div class="card result" id="result" data-state="error">{{ t.error }}: {{ error }}</div>{% endif %}
{% for b in bills %}
<form class="card" method="post" action="/fake/transfers" data-bill="{{ b.out_bill_no }}">
<div class="amount">¥{{ yuan(b.amount) }}</div>
<dl><dt>{{ t.remark }}</dt><dd>{{ b.request.get("transfer_remark", "") }}</dd>
<dt>{{ t.payee }}</dt><dd>…{{ b.openid[-6:] }}</dd>
<dt>{{ t.bill }}</dt><dd>{{ b.out_bill_no }}</dd></dl>
<label>{{ t.user }}<input name="user" required autocomplete="username"></label>
<input type="hidden" name="out_bill_no" value="{{ b.out_bill_no }}">
<input type="hidden" name="lang" value="{{ lang }}">
<button name="action" value="confirm">{{ t.confirm }}</button>
</form>
{% else %}<div class="card" id="none">{{ t.none }}</div>{% endfor %}
<p class="note">{{ t.note }}</p>
</main></body></html>"""


def render(
    *,
    lang: str,
    bills: Iterable[TransferRecord],
    done: TransferRecord | None = None,
    error: str | None = None,
) -> str:
    lang = lang if lang in TEXT else "zh-CN"
    return render_template_string(
        PAGE,
        t=TEXT[lang],
        lang=lang,
        bills=list(bills),
        done=done,
        error=error,
        yuan=yuan,
        other=urlencode({"lang": "en" if lang == "zh-CN" else "zh-CN"}),
    )
