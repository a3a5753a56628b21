'use strict';
// The clients' own words (labels, buttons, local errors) in zh-CN and English. Error messages
// from the API are not here: the API sends them in the language asked for (Accept-Language),
// and the clients show them as sent.

const LANGS = ['zh-CN', 'en'];
const DEFAULT_LANG = 'zh-CN';
const LANG_KEY = 'jc_lang';

const TEXT = {
  'zh-CN': {
    app_name: '聚充', lang_name: '中文', other_lang: 'English',
    login_title: '微信登录', login_button: '微信一键登录', login_busy: '正在登录…',
    login_hint: '登录后可查找充电站、扫码充电和管理钱包。',
    login_error_login_state_invalid: '登录链接已失效或不是在本浏览器发起的，请重新登录。',
    login_error_wechat_login_refused: '你拒绝了微信授权，未登录。',
    login_error_wechat_code_invalid: '微信授权码无效或已过期，请重新登录。',
    login_error_wechat_code_used: '微信授权码已使用过，请重新登录。',
    login_error_wechat_user_blocked: '微信判定该账号存在风险，暂时无法登录。',
    login_error_wechat_busy: '微信服务繁忙，请稍后重试。',
    login_error_wechat_quota: '登录过于频繁，请稍后再试。',
    login_error_wechat_unavailable: '暂时无法连接微信，请稍后重试。',
    login_error_wechat_oa_misconfigured: '本平台的微信公众号配置有误，请联系客服。',
    login_error_wechat_not_configured: '本平台尚未配置微信网页登录，请在微信小程序中登录。',
    login_error_driver_blocked: '该账号已被停用，请联系客服。',
    login_error_wechat_login_failed: '微信登录失败，请重新登录。',
    map_me: '我的位置', map_free: '有空闲枪', map_busy: '无空闲枪', map_offline: '离线',
    tab_stations: '找电站', tab_scan: '扫码充电', tab_wallet: '钱包', tab_me: '我的',
    stations_title: '附近电站', view_map: '地图', view_list: '列表', free_only: '只看空闲',
    view_recommended: '推荐', recommend_needs_location: '需要您的位置才能推荐充电站。',
    recommend_unavailable: '暂不可充', no_recommendations: '附近暂无可推荐的电站。',
    no_stations: '附近暂无电站。', loading: '加载中…', retry: '重试',
    guns_free: '空闲 {free}/{total}', online: '在线', offline: '离线',
    limiting: '限流中：新充电可能受限', price_now: '当前电价', price_next: '{from} 起',
    max_power: '最大功率', navigate: '导航', guns: '充电枪', idle_fee: '占位费',
    idle_fee_text: '充电结束 {grace_min} 分钟后每 {step_min} 分钟 {fen}，最多 {cap}',
    // the gun states and stop reasons of edge/gunstate.py (the protocol's vocabulary)
    gun_state_available: '空闲', gun_state_plugged: '已插枪', gun_state_charging: '充电中',
    gun_state_suspended_ev: '车辆暂停', gun_state_suspended_evse: '桩暂停', gun_state_finishing: '已结束未拔枪',
    gun_state_reserved: '已预约', gun_state_unavailable: '不可用', gun_state_faulted: '故障', gun_state_unknown: '未知',
    scan_title: '扫码充电', scan_button: '扫一扫', scan_code_label: '枪编号',
    scan_lookup: '查询', balance: '账户余额', energy_for_balance: '余额约可充 {kwh}',
    mode_amount: '按金额', mode_energy: '按电量', mode_time: '按时间', mode_full: '充满为止',
    custom_amount: '其他金额（元）', custom_energy: '电量（kWh）', custom_time: '时长（分钟）',
    departure_label: '离开时间（选填，如 07:30）：在此之前按最便宜的时段充好', invalid_departure: '离开时间请写成 时:分，如 07:30',
    orderly_planned: '有序充电：{time} 前充好', orderly_on_track: '预计 {time} 前充好',
    orderly_cannot_meet: '{time} 前充不到 {kwh}：预计 {expected}', orderly_done: '所需电量已充好',
    orderly_past_departure: '已过离开时间，正常充电中',
    pay_label: '支付方式', pay_wallet: '余额支付', pay_wechat: '微信支付（本次）',
    start_button: '开始充电', starting: '正在启动…', payment_password: '支付密码',
    payment_password_prompt: '请输入 6 位支付密码',
    nearest_station: '附近有空闲充电枪的电站：{name}（{distance}）', go_there: '去这里',
    invalid_amount: '请输入有效金额（最多两位小数）。', invalid_value: '请输入大于 0 的整数。',
    amount_too_small: '金额至少 ¥1.00。', choose_value: '请选择或输入充电量。',
    charging_title: '充电中', energy: '已充电量', power: '功率', cost: '费用', elapsed: '时长',
    soc: '电量 SoC', stop_button: '结束充电', stopping: '正在结束…',
    order_state_created: '已创建', order_state_starting: '启动中', order_state_charging: '充电中',
    order_state_ended: '已结束，结算中', order_state_settled: '已结算', order_state_failed: '启动失败',
    order_state_cancelled: '已取消', order_state_abnormal: '异常待核查',
    order_title: '订单详情', line_electricity: '电费', line_service: '服务费', line_idle: '占位费',
    period_tip: '尖', period_peak: '峰', period_flat: '平', period_valley: '谷',
    total: '合计', debt: '欠款', refund: '退款', stop_reason: '结束原因',
    stop_reason_remote: '手机端结束', stop_reason_local: '桩上结束', stop_reason_unplugged: '拔枪',
    stop_reason_ev_full: '已充满', stop_reason_fault: '设备故障', stop_reason_limit: '达到设定量',
    stop_reason_balance: '余额不足', stop_reason_power_loss: '断电', stop_reason_gateway_restart: '网关重启',
    rate_title: '评价本次充电', rate_comment: '说说这次充电的体验（选填）', rate_submit: '提交评价',
    rated: '已评价', stars_required: '请先选择星级。', comment_too_long: '评价最多 500 字。',
    wallet_title: '我的钱包', cash: '现金', bonus: '赠送', held: '充电冻结', refundable: '可退余额',
    recharge: '充值', recharge_button: '立即充值', recharges: '充值记录', refunds: '退款记录',
    refund_button: '退还余额', refund_all: '全部退还', statement: '账单',
    recharge_state_pending: '待支付', recharge_state_paid: '已到账', recharge_state_closed: '已关闭',
    recharge_state_refunded_part: '部分退款', recharge_state_refunded: '已退款',
    refund_state_pending: '退款中', refund_state_processing: '退款中', refund_state_success: '已退款',
    refund_state_done: '已退款', refund_state_failed: '退款失败', refund_state_partial: '部分退款',
    paid_ok: '支付成功，余额稍后到账。', pay_cancelled: '已取消支付。',
    records_title: '充电记录', no_records: '还没有充电记录。', load_more: '加载更多',
    trip_title: '行程规划', trip_origin: '出发地（纬度, 经度）', trip_dest: '目的地（纬度, 经度）', trip_here: '用我的位置',
    trip_battery: '电池容量（kWh）', trip_max_dc: '最大直流功率（kW）', trip_consumption: '能耗（Wh/km）',
    trip_soc_now: '当前电量（%）', trip_min_arrival: '到达最低电量（%）', trip_min_stop: '到站最低电量（%）',
    trip_reserve: '有空闲枪时预约', trip_plan: '规划', trip_planning: '正在规划…', trip_no_plan: '无法规划',
    trip_stops: '充电站点', trip_no_stops: '无需途中充电。', trip_soc_from_to: '{from}% → {to}%',
    trip_wait: '预计排队 {t}', trip_capped: '（限流）', trip_reservable: '可预约',
    trip_distance: '里程', trip_drive: '驾驶', trip_charge: '充电', trip_waiting: '排队', trip_total: '总计',
    trip_cost: '充电费用', trip_arrive: '到达', road_osm: '道路：OpenStreetMap 路网',
    road_amap: '道路：高德驾车路线（进出站绕行为估算）', road_straight_line: '未配置路网：按直线距离 × 绕行系数估算',
    trip_invalid_originLat: '请填写出发地纬度。', trip_invalid_originLng: '请填写出发地经度。',
    trip_invalid_destLat: '请填写目的地纬度。', trip_invalid_destLng: '请填写目的地经度。',
    trip_invalid_batteryKwh: '电池容量应为 1–500 kWh。', trip_invalid_maxDcKw: '最大功率应为 1–2000 kW。',
    trip_invalid_whPerKm: '能耗应为 50–600 Wh/km。', trip_invalid_soc: '当前电量应为 0–100%。',
    trip_invalid_minArrival: '到达最低电量应为 0–90%。', trip_invalid_minStop: '到站最低电量应为 0–90%。',
    period_sharp: '尖',
    settings_title: '设置', nickname: '昵称', phone: '手机号', save: '保存', saved: '已保存',
    set_payment_password: '设置支付密码', change_payment_password: '修改支付密码',
    old_password: '原支付密码', new_password: '新支付密码', password_set: '支付密码已设置',
    password_not_set: '未设置支付密码', language: '语言', logout: '退出登录',
    network_error: '网络异常，请检查网络后重试。', server_error: '服务暂时不可用，请稍后重试。',
    unknown_error: '操作失败（{code}）。',
    // reservations
    // community
    review_photos_max: '最多 {n} 张图片', gun_report_pick_reason: '请选择故障原因',
    gun_report_open: '处理中', gun_report_closed: '已处理',
    gun_report_reason_no_power: '无法供电', gun_report_reason_cable_damaged: '线缆损坏',
    gun_report_reason_connector_damaged: '枪头损坏', gun_report_reason_screen_broken: '屏幕故障',
    gun_report_reason_wont_start: '无法启动', gun_report_reason_other: '其他',
    reserve_title: '预约充电枪', reserve_button: '预约', reserve_this_gun: '预约这把枪', reserving: '正在预约…',
    reserve_minutes: '保留时长', minutes_n: '{n} 分钟', reserve_fee: '预约费', reserve_free: '免费',
    reserve_rules_start: '按时开始充电：预约费{outcome}', reserve_rules_cancel: '取消预约：预约费{outcome}',
    reserve_rules_no_show: '到期未使用：预约费{outcome}', fee_refunded: '退还', fee_kept: '不退',
    reserve_disabled: '该站暂不支持预约。', reserve_suspended: '因多次预约未到，{until} 前不能在本站预约。',
    reserve_held_until: '该枪已被预约，保留至 {until}。',
    my_reservation: '我的预约', no_reservation: '当前没有预约。', reservation_left: '剩余 {left}',
    reservation_until: '保留至 {until}', cancel_reservation: '取消预约', cancelling: '正在取消…',
    reservation_state_pending: '等待充电站确认', reservation_state_active: '预约中', reservation_state_used: '已使用',
    reservation_state_cancelled: '已取消', reservation_state_expired: '已过期（未到）', reservation_state_failed: '预约失败',
    fee_state_none: '', fee_state_held: '已冻结', fee_state_refunded: '已退还', fee_state_kept: '已扣除',
    start_on_reserved: '去充电', use_other_gun: '改用空闲的 {name}',
  },
  en: {
    app_name: 'Juchong', lang_name: 'English', other_lang: '中文',
    login_title: 'Log in with WeChat', login_button: 'Log in with WeChat', login_busy: 'Logging in…',
    login_hint: 'Log in to find stations, scan a gun and manage your wallet.',
    login_error_login_state_invalid: 'This login link has expired or was not started in this browser; log in again.',
    login_error_wechat_login_refused: 'You refused the WeChat authorisation; you are not logged in.',
    login_error_wechat_code_invalid: 'The WeChat authorisation code is invalid or expired; log in again.',
    login_error_wechat_code_used: 'The WeChat authorisation code was already used; log in again.',
    login_error_wechat_user_blocked: 'WeChat has flagged this account as risky; it cannot log in.',
    login_error_wechat_busy: 'WeChat is busy; try again in a moment.',
    login_error_wechat_quota: 'Too many logins; wait a while and try again.',
    login_error_wechat_unavailable: 'WeChat cannot be reached right now; try again.',
    login_error_wechat_oa_misconfigured: "This platform's WeChat official account is misconfigured; please contact support.",
    login_error_wechat_not_configured: 'WeChat web login is not configured here; log in with the mini-program in WeChat.',
    login_error_driver_blocked: 'This account is blocked; please contact support.',
    login_error_wechat_login_failed: 'WeChat login failed; log in again.',
    map_me: 'You are here', map_free: 'free guns', map_busy: 'no free gun', map_offline: 'offline',
    tab_stations: 'Stations', tab_scan: 'Scan', tab_wallet: 'Wallet', tab_me: 'Me',
    stations_title: 'Stations nearby', view_map: 'Map', view_list: 'List', free_only: 'Free guns only',
    view_recommended: 'Recommended', recommend_needs_location: 'Recommendations need your location.',
    recommend_unavailable: 'cannot charge now', no_recommendations: 'No station nearby to recommend.',
    no_stations: 'No stations nearby.', loading: 'Loading…', retry: 'Retry',
    guns_free: '{free}/{total} free', online: 'Online', offline: 'Offline',
    limiting: 'Limiting: new sessions may be refused', price_now: 'Price now', price_next: 'from {from}',
    max_power: 'Max power', navigate: 'Navigate', guns: 'Guns', idle_fee: 'Idle fee',
    idle_fee_text: '{fen} per {step_min} min from {grace_min} min after charging, at most {cap}',
    gun_state_available: 'Free', gun_state_plugged: 'Plugged in', gun_state_charging: 'Charging',
    gun_state_suspended_ev: 'Paused by the car', gun_state_suspended_evse: 'Paused by the pile', gun_state_finishing: 'Done, still plugged',
    gun_state_reserved: 'Reserved', gun_state_unavailable: 'Unavailable', gun_state_faulted: 'Faulted', gun_state_unknown: 'Unknown',
    scan_title: 'Scan to charge', scan_button: 'Scan', scan_code_label: 'Gun code',
    scan_lookup: 'Look up', balance: 'Balance', energy_for_balance: 'Your balance buys about {kwh}',
    mode_amount: 'By amount', mode_energy: 'By energy', mode_time: 'By time', mode_full: 'Until full',
    custom_amount: 'Other amount (CNY)', custom_energy: 'Energy (kWh)', custom_time: 'Time (minutes)',
    departure_label: 'Leaving at (optional, e.g. 07:30): charged by then in the cheapest periods', invalid_departure: 'Write the time you leave as hours:minutes, e.g. 07:30',
    orderly_planned: 'Orderly charging: done by {time}', orderly_on_track: 'Will finish by {time}',
    orderly_cannot_meet: 'Cannot reach {kwh} by {time}: {expected} expected', orderly_done: 'The energy wanted is in',
    orderly_past_departure: 'Past the departure: charging normally',
    pay_label: 'Pay with', pay_wallet: 'Wallet balance', pay_wechat: 'WeChat Pay (this session)',
    start_button: 'Start charging', starting: 'Starting…', payment_password: 'Payment password',
    payment_password_prompt: 'Enter your 6-digit payment password',
    nearest_station: 'Nearest station with a free gun: {name} ({distance})', go_there: 'Go there',
    invalid_amount: 'Enter a valid amount (at most two decimals).', invalid_value: 'Enter a whole number above 0.',
    amount_too_small: 'The amount must be at least ¥1.00.', choose_value: 'Choose or enter how much to charge.',
    charging_title: 'Charging', energy: 'Energy', power: 'Power', cost: 'Cost', elapsed: 'Time',
    soc: 'SoC', stop_button: 'Stop charging', stopping: 'Stopping…',
    order_state_created: 'Created', order_state_starting: 'Starting', order_state_charging: 'Charging',
    order_state_ended: 'Ended, settling', order_state_settled: 'Settled', order_state_failed: 'Failed to start',
    order_state_cancelled: 'Cancelled', order_state_abnormal: 'Under review',
    order_title: 'Order', line_electricity: 'Electricity', line_service: 'Service', line_idle: 'Idle fee',
    period_tip: 'super-peak', period_peak: 'peak', period_flat: 'flat', period_valley: 'valley',
    total: 'Total', debt: 'Debt', refund: 'Refund', stop_reason: 'Stop reason',
    stop_reason_remote: 'Stopped from the phone', stop_reason_local: 'Stopped at the pile', stop_reason_unplugged: 'Unplugged',
    stop_reason_ev_full: 'Battery full', stop_reason_fault: 'Equipment fault', stop_reason_limit: 'Limit reached',
    stop_reason_balance: 'Balance used up', stop_reason_power_loss: 'Power loss', stop_reason_gateway_restart: 'Gateway restarted',
    rate_title: 'Rate this session', rate_comment: 'How was it? (optional)', rate_submit: 'Submit',
    rated: 'Rated', stars_required: 'Choose the stars first.', comment_too_long: 'At most 500 characters.',
    wallet_title: 'My wallet', cash: 'Cash', bonus: 'Bonus', held: 'Held for charging', refundable: 'Refundable',
    recharge: 'Top up', recharge_button: 'Top up now', recharges: 'Top-ups', refunds: 'Refunds',
    refund_button: 'Refund balance', refund_all: 'Refund all', statement: 'Statement',
    recharge_state_pending: 'Awaiting payment', recharge_state_paid: 'Credited', recharge_state_closed: 'Closed',
    recharge_state_refunded_part: 'Partly refunded', recharge_state_refunded: 'Refunded',
    refund_state_pending: 'Refunding', refund_state_processing: 'Refunding', refund_state_success: 'Refunded',
    refund_state_done: 'Refunded', refund_state_failed: 'Refund failed', refund_state_partial: 'Partly refunded',
    paid_ok: 'Paid; your balance is credited in a moment.', pay_cancelled: 'Payment cancelled.',
    records_title: 'Charging records', no_records: 'No charging records yet.', load_more: 'Load more',
    trip_title: 'Trip planner', trip_origin: 'From (lat, lng)', trip_dest: 'To (lat, lng)', trip_here: 'Use my location',
    trip_battery: 'Battery (kWh)', trip_max_dc: 'Max DC power (kW)', trip_consumption: 'Consumption (Wh/km)',
    trip_soc_now: 'Charge now (%)', trip_min_arrival: 'Least on arrival (%)', trip_min_stop: 'Least at a stop (%)',
    trip_reserve: 'Reserve a free gun', trip_plan: 'Plan', trip_planning: 'Planning…', trip_no_plan: 'No plan',
    trip_stops: 'Charging stops', trip_no_stops: 'No charging needed on the way.', trip_soc_from_to: '{from}% → {to}%',
    trip_wait: 'expected wait {t}', trip_capped: '(capped)', trip_reservable: 'reservable',
    trip_distance: 'Distance', trip_drive: 'Driving', trip_charge: 'Charging', trip_waiting: 'Waiting', trip_total: 'Total',
    trip_cost: 'Charging cost', trip_arrive: 'Arrival', road_osm: 'Roads: OpenStreetMap road graph',
    road_amap: 'Roads: AMap driving route (detours to stations estimated)',
    road_straight_line: 'No road data configured: straight line × detour factor',
    trip_invalid_originLat: 'Enter the origin latitude.', trip_invalid_originLng: 'Enter the origin longitude.',
    trip_invalid_destLat: 'Enter the destination latitude.', trip_invalid_destLng: 'Enter the destination longitude.',
    trip_invalid_batteryKwh: 'Battery: 1–500 kWh.', trip_invalid_maxDcKw: 'Max power: 1–2000 kW.',
    trip_invalid_whPerKm: 'Consumption: 50–600 Wh/km.', trip_invalid_soc: 'Charge now: 0–100 %.',
    trip_invalid_minArrival: 'Least on arrival: 0–90 %.', trip_invalid_minStop: 'Least at a stop: 0–90 %.',
    period_sharp: 'super-peak',
    settings_title: 'Settings', nickname: 'Nickname', phone: 'Phone', save: 'Save', saved: 'Saved',
    set_payment_password: 'Set payment password', change_payment_password: 'Change payment password',
    old_password: 'Current password', new_password: 'New password', password_set: 'Payment password set',
    password_not_set: 'No payment password', language: 'Language', logout: 'Log out',
    network_error: 'Network error: check your connection and try again.',
    server_error: 'The service is unavailable right now; try again shortly.',
    unknown_error: 'That did not work ({code}).',
    // community
    review_photos_max: 'At most {n} photos', gun_report_pick_reason: 'Pick what is wrong',
    gun_report_open: 'Being handled', gun_report_closed: 'Resolved',
    gun_report_reason_no_power: 'No power', gun_report_reason_cable_damaged: 'Cable damaged',
    gun_report_reason_connector_damaged: 'Connector damaged', gun_report_reason_screen_broken: 'Screen broken',
    gun_report_reason_wont_start: 'Will not start', gun_report_reason_other: 'Other',
    reserve_title: 'Reserve a gun', reserve_button: 'Reserve', reserve_this_gun: 'Reserve this gun', reserving: 'Reserving…',
    reserve_minutes: 'Hold it for', minutes_n: '{n} min', reserve_fee: 'Reservation fee', reserve_free: 'Free',
    reserve_rules_start: 'Start in time: the fee is {outcome}', reserve_rules_cancel: 'Cancel: the fee is {outcome}',
    reserve_rules_no_show: 'Not used in time: the fee is {outcome}', fee_refunded: 'refunded', fee_kept: 'kept',
    reserve_disabled: 'This station does not take reservations.',
    reserve_suspended: 'Too many missed reservations: you can reserve here again after {until}.',
    reserve_held_until: 'This gun is reserved until {until}.',
    my_reservation: 'My reservation', no_reservation: 'You have no reservation.', reservation_left: '{left} left',
    reservation_until: 'Held until {until}', cancel_reservation: 'Cancel the reservation', cancelling: 'Cancelling…',
    reservation_state_pending: 'Waiting for the station', reservation_state_active: 'Reserved', reservation_state_used: 'Used',
    reservation_state_cancelled: 'Cancelled', reservation_state_expired: 'Expired (not used)', reservation_state_failed: 'Failed',
    fee_state_none: '', fee_state_held: 'held', fee_state_refunded: 'refunded', fee_state_kept: 'kept',
    start_on_reserved: 'Charge now', use_other_gun: 'Use the free {name} instead',
  },
};

// the battery-swap pages' words live in their own table
const SWAP = require('./i18n_swap');
Object.keys(SWAP).forEach((lang) => Object.assign(TEXT[lang], SWAP[lang]));

function normalizeLang(lang) {
  if (typeof lang !== 'string') return DEFAULT_LANG;
  return lang.toLowerCase().indexOf('en') === 0 ? 'en' : DEFAULT_LANG;
}

/** The text for `key` in `lang`, with {name} filled from `params`; the key itself if unknown. */
function t(lang, key, params) {
  const table = TEXT[normalizeLang(lang)];
  let text = Object.prototype.hasOwnProperty.call(table, key) ? table[key] : key;
  if (params) {
    text = text.replace(/\{(\w+)\}/g, (all, name) => (params[name] === undefined ? all : String(params[name])));
  }
  return text;
}

function has(key) {
  return Object.prototype.hasOwnProperty.call(TEXT[DEFAULT_LANG], key);
}

/** The language the driver chose (kept in `storage`), zh-CN until they choose. */
function loadLang(storage) {
  return normalizeLang(storage && storage.get(LANG_KEY));
}

function saveLang(storage, lang) {
  const chosen = normalizeLang(lang);
  if (storage) storage.set(LANG_KEY, chosen);
  return chosen;
}

module.exports = { LANGS, DEFAULT_LANG, LANG_KEY, TEXT, t, has, normalizeLang, loadLang, saveLang };
