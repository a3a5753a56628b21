"""The recommendations' reasons in the driver's language (zh-CN, the default, and English),
by message key; the scorer gives the key and its parameters (cloud/recommend/scorer.py)."""

from __future__ import annotations

from typing import Any

PERIODS = {"zh-CN": {"sharp": "尖峰", "peak": "峰", "flat": "平", "valley": "谷"},
           "en": {"sharp": "sharp peak", "peak": "peak", "flat": "flat", "valley": "valley"}}

# key: (zh-CN, English)
MESSAGES: dict[str, tuple[str, str]] = {
    "offline": ("充电站离线，暂不能充电", "station offline: it cannot charge now"),
    "blocked": ("变压器负荷已满：暂不接受新的充电", "transformer at its limit: no new sessions"),
    "out_of_service": ("充电枪故障或暂停服务", "gun faulted or out of service"),
    "reserved": ("该枪已被其他车主预约至 {time}，到站时仍不可用", "reserved by another driver until {time}: not free when you arrive"),
    "reserved_for_you": ("您已预约该枪，保留至 {time}", "your reservation holds this gun until {time}"),
    "capped": ("变压器繁忙：新启动的充电限功率 {pct}%", "transformer busy: new sessions capped at {pct} %"),
    "cheaper_from": ("{time} 起{period}电价 ¥{price}/度", "{period} price from {time}: ¥{price}/kWh"),
    "near": ("距离近：{km} 公里，驾车约 {min} 分钟", "close: {km} km, about {min} min drive"),
    "far": ("距离较远：{km} 公里，驾车约 {min} 分钟", "further away: {km} km, about {min} min drive"),
    "price": ("到站电价 ¥{price}/度（{period}）", "¥{price}/kWh when you arrive ({period})"),
    "free_now": ("现有 {free} 把空闲枪", "{free} guns free now"),
    "wait": ("预计排队约 {min} 分钟", "expected wait about {min} min"),
    "usually_busy": ("这里在 {time} 前后通常繁忙（约 {pct}% 的枪在用），预计排队约 {min} 分钟",
                     "usually busy at this hour: about {pct} % of guns in use around {time}, "
                     "expected wait about {min} min"),
    "power": ("可用功率 {kw} kW，约 {min} 分钟充完", "{kw} kW available: about {min} min to charge"),
    "visits": ("您在这里充过 {n} 次", "you charged here {n} times"),
    "own_rating": ("您给这里的评分 {stars} 星", "you rated it {stars} stars"),
    "rating": ("车主评分 {stars} 星（{n} 条评价）", "rated {stars} stars by drivers ({n} ratings)"),
}


def render(key: str, params: dict[str, Any], lang: str) -> str:
    zh, en = MESSAGES[key]
    facts = dict(params)
    if "period" in facts:
        facts["period"] = PERIODS.get(lang, PERIODS["en"]).get(str(facts["period"]), str(facts["period"]))
    return (zh if lang == "zh-CN" else en).format(**facts)
