"""The driver API's error messages in zh-CN (the default) and English, by error code, and
the HTTP status each code answers with. The client picks the language with Accept-Language."""

from __future__ import annotations

from typing import Any

LANGUAGES = ("zh-CN", "en")

# code: (status, zh-CN, English). {field}, {attempts_left}, {retry_after_min} are filled in.
CATALOG: dict[str, tuple[int, str, str]] = {
    "invalid_request": (400, "请求有误：{field}的类型、长度或格式不对，请按接口说明发送 JSON 对象。",
                        "Bad request: {field} has the wrong type, length or form; send a JSON object as documented."),
    "payload_too_large": (413, "请求内容过大。", "The request body is too large."),
    "phone_invalid": (400, "手机号格式不对：请填写 11 位中国大陆手机号。",
                      "That is not a mainland China mobile number (11 digits, starting 13-19)."),
    "payment_password_format": (400, "支付密码须为 6 位数字。", "The payment password must be exactly six digits."),
    "payment_password_too_simple": (400, "支付密码过于简单（如 111111、123456），请换一个。",
                                    "That payment password is too easy to guess (like 111111 or 123456)."),
    "payment_password_exists": (409, "已设置支付密码；如需修改，请提供原密码。",
                                "A payment password is already set; change it with the old one."),
    "payment_password_not_set": (409, "尚未设置支付密码。", "No payment password is set yet."),
    "payment_password_wrong": (403, "支付密码错误，还可尝试 {attempts_left} 次。",
                               "Wrong payment password; {attempts_left} attempts left."),
    "payment_password_wrong_locked": (403, "支付密码错误次数过多，已锁定，请 {retry_after_min} 分钟后再试。",
                                      "Wrong payment password too many times: locked; try again in "
                                      "{retry_after_min} minutes."),
    "payment_password_locked": (429, "支付密码已锁定，请 {retry_after_min} 分钟后再试。",
                                "The payment password is locked; try again in {retry_after_min} minutes."),
    "unauthorized": (401, "请先登录。", "Please log in (send Authorization: Bearer <driver token>)."),
    "token_expired": (401, "登录已过期，请重新登录。", "Your login has expired; please log in again."),
    "driver_blocked": (403, "该账号已被停用，请联系客服。", "This account is blocked; please contact support."),
    "driver_not_found": (401, "账号不存在，请重新登录。", "No such account; please log in again."),
    "wechat_code_invalid": (400, "微信登录凭证无效或已过期，请重新登录。",
                            "The WeChat login code is invalid or expired; log in again."),
    "wechat_code_used": (400, "微信登录凭证已使用，请重新登录。",
                         "The WeChat login code was already used; log in again."),
    "wechat_user_blocked": (403, "微信判定该账号存在风险，暂时无法登录。",
                            "WeChat has flagged this account as risky; it cannot log in."),
    "wechat_busy": (503, "微信服务繁忙，请稍后重试。", "WeChat is busy; try again in a moment."),
    "wechat_quota": (429, "登录过于频繁，请稍后再试。", "Too many logins; try again later."),
    "wechat_unavailable": (503, "暂时无法连接微信，请稍后重试。", "WeChat cannot be reached right now; try again."),
    "wechat_login_failed": (502, "微信登录失败，请重新登录。", "WeChat refused the login; try again."),
    "wechat_not_configured": (503, "本平台尚未配置微信登录。", "WeChat login is not configured on this platform."),
    # --- wallet (cloud/wallet, cloud/api/driver_wallet.py; it shares charging's not_found,
    # payment_not_configured and payment_password_required below) ---
    "recharge_amount_invalid": (400, "充值金额超出允许范围，请重新输入。",
                                "That recharge amount is outside the allowed range."),
    "nothing_to_refund": (409, "没有可退款的余额（赠送金额和冻结金额不可退）。",
                          "There is no refundable balance (bonus credit and held money are not refundable)."),
    "refund_amount_too_large": (409, "退款金额超过可退余额。", "The refund is more than the refundable balance."),
    "payment_unavailable": (503, "暂时无法连接微信支付，请稍后重试。", "WeChat Pay cannot be reached right now; try again."),
    "payment_failed": (502, "微信支付下单失败，请稍后重试。", "WeChat Pay refused the payment; try again later."),
    "payment_channel_unavailable": (409, "当前无法使用这种支付方式，请在微信中通过公众号登录后支付，或在手机浏览器中支付。",
                                    "This way of paying is not available here; log in through the official "
                                    "account in WeChat, or pay in a phone browser."),
    # --- charging: stations and orders (cloud/api/driver_stations.py, driver_orders.py) ---
    "not_found": (404, "未找到。", "Not found."),
    "gun_not_found": (404, "未找到该充电枪，请重新扫码。", "No such charging gun; scan its QR code again."),
    "insufficient_balance": (402, "余额不足，请先充值。", "Your balance is too low; please top up first."),
    "station_offline": (409, "充电站暂时离线，请稍后再试或换一个站。",
                        "The station is offline; try again later or choose another station."),
    "not_plugged": (409, "请先插好充电枪再启动。", "Plug the gun into your car first, then start."),
    "gun_busy": (409, "该充电枪正在使用中，请换一把枪。", "This gun is in use; please choose another one."),
    "gun_faulted": (409, "该充电枪故障或暂停服务，请换一把枪。", "This gun is faulted or out of service; choose another."),
    "blocked_by_load": (409, "站点用电负荷已满，暂不能启动新的充电，请稍后再试或换一个站。",
                        "The station's power line is at its limit and takes no new sessions; "
                        "try later or another station."),
    # --- trip planning (cloud/trips) ---
    "trip_off_road": (422, "起点或终点 5 公里内没有道路，无法规划路线。",
                      "The origin or the destination is more than 5 km from any road: no route."),
    "trip_no_route": (422, "起点与终点之间没有可行驶的道路。", "No road connects the origin and the destination."),
    "trip_router_failed": (503, "路线服务暂时不可用，请稍后重试。",
                           "The route service is unavailable; try again in a moment."),
    "reserved": (409, "该充电枪已被其他车主预约，请换一把空闲的枪（已为您推荐）。",
                 "This gun is reserved for another driver; please use another, free gun (one is suggested)."),
    "start_failed": (502, "启动失败，请重试；未产生费用。", "The start failed; try again. You were not charged."),
    "payment_password_required": (403, "请输入支付密码。", "Enter your payment password."),
    "order_in_progress": (409, "您有一笔正在进行的充电订单，请先结束它。",
                          "You have a charging order in progress; finish it first."),
    "tariff_missing": (409, "该站尚未设置电价，暂不能充电。", "This station has no price set yet; it cannot charge."),
    "payment_not_configured": (503, "本平台尚未开通微信支付。", "WeChat Pay is not configured on this platform."),
    "order_not_running": (409, "该订单不在充电中。", "This order is not charging."),
    "stop_failed": (502, "停止指令未被执行，请重试或在充电桩上停止。",
                    "The station did not carry out the stop; retry or stop at the pile."),
    "order_not_settled": (409, "订单结算后才能评价。", "An order can be rated once it is settled."),
    "already_rated": (409, "该订单已评价过。", "This order is rated already."),
    # --- reservations (cloud/reservations, cloud/api/driver_reservations.py; they share
    # charging's gun_not_found, station_offline, gun_busy, gun_faulted, reserved, not_found
    # and insufficient_balance) ---
    "reservation_disabled": (409, "该站暂不支持预约。", "This station does not take reservations."),
    "reservation_too_long": (400, "预约时长超过本站上限（{max_minutes} 分钟）。",
                             "That is longer than this station allows ({max_minutes} minutes at most)."),
    "reservation_exists": (409, "您已有一个进行中的预约，请先使用或取消它。",
                           "You already have a reservation; use or cancel it first."),
    "reservation_suspended": (403, "您在本站多次预约未到，暂时不能预约。",
                              "You missed too many reservations at this station; reserving is suspended for now."),
    "reserve_failed": (502, "充电站未能锁定该枪，预约未成功；预约费已退回。",
                       "The station could not hold the gun; nothing was reserved and any fee is back."),
    "reservation_not_active": (409, "该预约已结束，无法取消。", "This reservation has ended; it cannot be cancelled."),
    # --- battery swap (cloud/swap, cloud/api/driver_swap.py; they share the reservation codes,
    # not_found and insufficient_balance) ---
    "slot_unavailable": (400, "该时段无法预约（已过去或不是整时段）。", "That slot cannot be booked (past, or not a slot start)."),
    "slot_full": (409, "该时段的换电工位已约满。", "Every swap bay is booked in that slot."),
    "no_pack": (409, "该时段没有可预约的此型号电池。", "No pack of that type will be ready for that slot."),
    # --- community (cloud/community, cloud/api/driver_community.py) ---
    "sensitive_word": (422, "内容包含敏感词“{word}”，请修改后再提交。",
                       "The text contains the blocked word \"{word}\"; please change it."),
    "community_banned": (403, "您已被禁止发言，请联系客服。", "You are banned from posting; please contact support."),
    "review_not_allowed": (403, "只能评价您在本站已结算的充电订单。",
                           "You can only review a settled charging order of yours at this station."),
    "review_exists": (409, "该订单已评价过。", "This order has been reviewed already."),
    "photo_invalid": (400, "图片无效：仅支持 JPEG、PNG、WebP，且不超过 2 MB、5000 万像素。",
                      "Not a valid image: JPEG, PNG or WebP up to 2 MB and 50 megapixels."),
    # --- private pile sharing (cloud/sharing; the owner may always charge on their own pile) ---
    "pile_closed": (409, "该私人充电桩的桩主已暂停共享，请换一个桩。",
                    "The owner of this private pile has closed it to others; please choose another pile."),
    "pile_outside_hours": (409, "该私人充电桩当前不在开放时段，请在开放时段内使用。",
                           "This private pile is not open to others at this hour; come back in its open hours."),
    # --- the owner's side of a private pile (cloud/api/driver_sharing.py) ---
    "pairing_code_invalid": (403, "配对码错误、已使用、已过期或云端尚未收到，请核对，或在桩的网关上或向运营方重新获取。",
                             "The pairing code is wrong, used, expired or not yet received by the cloud; check it, "
                             "or get a new one from the pile's gateway or the operator."),
    "pairing_locked": (429, "配对码错误次数过多，请 {retry_after_min} 分钟后再试。",
                       "Too many wrong pairing codes; try again in {retry_after_min} minutes."),
    "already_shared": (409, "该充电枪已由其他桩主登记共享。", "This gun is already registered by another owner."),
    "invalid_window": (400, "开放时段有误：请按“星期、HH:MM 开始、HH:MM 结束”填写，同一天的时段不能重叠。",
                       "The open hours are not valid: days, a start and an end as HH:MM; spans of one day "
                       "may not overlap."),
    "invalid_tariff": (400, "价格有误：请按时段填写电价和服务费（单位为万分之一元）。",
                       "The price is not valid: give periods with energy and service prices (in 1/10000 yuan)."),
    "price_not_own_station": (409, "该桩属于共享充电站，价格由运营方设置。",
                              "This gun belongs to a shared station: its operator sets the price."),
    "invalid_amount": (400, "提现金额须为 1 分至 2 万元之间的整数（分）。",
                       "A withdrawal is a whole number of fen from 1 fen to 20,000 yuan."),
    "insufficient_earnings": (409, "提现金额超过可提现收益。", "That is more than your earnings available to withdraw."),
    "no_openid": (409, "该账号没有可收款的微信身份，请在小程序内登录后再提现。",
                  "This account has no WeChat identity to receive the transfer; log in in the mini-program first."),
}

FIELD_NAMES = {"zh-CN": {None: "请求体", "code": "code（登录凭证）", "nickname": "昵称", "avatar_url": "头像地址",
                         "phone": "手机号", "password": "支付密码", "old_password": "原支付密码",
                         "new_password": "新支付密码", "everywhere": "everywhere",
                         # --- charging ---
                         "gun_code": "gun_code（枪编码）", "limit": "limit（充电方式）", "pay": "pay（支付方式）",
                         "channel": "channel（支付渠道）", "pay_channel": "pay_channel（支付渠道）",
                         "payment_password": "支付密码", "stars": "stars（评分）", "comment": "评价内容",
                         "lat": "纬度", "lng": "经度", "radius_m": "搜索半径", "free": "free", "before": "before",
                         # --- trips ---
                         "origin": "起点", "destination": "终点", "car": "车辆参数", "soc_pct": "当前电量",
                         "min_arrival_soc_pct": "到达最低电量", "min_stop_soc_pct": "到站最低电量",
                         "max_charge_soc_pct": "最高充至电量", "depart_at": "出发时间", "reserve": "reserve（预约）",
                         # --- reservations ---
                         "minutes": "minutes（预约时长）",
                         # --- battery swap ---
                         "sid": "sid（换电站）", "type_code": "type_code（电池型号）", "slot_start": "slot_start（时段）",
                         # --- community ---
                         "text": "内容", "photo_ids": "图片", "content_base64": "图片内容",
                         "reason": "故障原因", "parent_id": "回复的帖子",
                         # --- messages to drivers ---
                         "accepted": "accepted（同意的消息类型）", "up_to": "up_to（已显示的最新消息）",
                         "remind_minutes": "remind_minutes（提前提醒分钟数）",
                         # --- private pile sharing ---
                         "pairing_code": "配对码", "windows": "开放时段", "periods": "价格时段", "idle": "占位费",
                         "open": "open（开关）", "amount_fen": "金额（分）"},
               "en": {None: "the body"}}


# A query parameter named like a body field means something else there: `limit` of a list
# is its page size, not a start's charging mode.
QUERY_FIELD_NAMES = {"zh-CN": {"limit": "limit（每页条数）", "before": "before（翻页位置）"}}


def status_of(code: str) -> int:
    return CATALOG[code][0]


def message(code: str, lang: str, *, in_query: bool = False, **facts: Any) -> str:
    status, zh, en = CATALOG[code]
    text = zh if lang == "zh-CN" else en
    field = facts.get("field")
    names = FIELD_NAMES.get(lang, {})
    if in_query:
        names = {**names, **QUERY_FIELD_NAMES.get(lang, {})}
    facts = {**facts, "field": names.get(field, f"`{field}`" if field else names.get(None, "the body"))}
    retry_ms = facts.get("retry_after_ms")
    facts.setdefault("retry_after_min", max(1, -(-int(retry_ms or 0) // 60_000)))
    facts.setdefault("attempts_left", 0)
    facts.setdefault("max_minutes", "?")
    facts.setdefault("word", "")
    return text.format(**facts)
