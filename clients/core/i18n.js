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
    tab_stations: '找电站', tab_scan: '扫码充电', tab_wallet: '钱包', tab_me: '我的',
    stations_title: '附近电站', view_map: '地图', view_list: '列表', free_only: '只看空闲',
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
    settings_title: '设置', nickname: '昵称', phone: '手机号', save: '保存', saved: '已保存',
    set_payment_password: '设置支付密码', change_payment_password: '修改支付密码',
    old_password: '原支付密码', new_password: '新支付密码', password_set: '支付密码已设置',
    password_not_set: '未设置支付密码', language: '语言', logout: '退出登录',
    network_error: '网络异常，请检查网络后重试。', server_error: '服务暂时不可用，请稍后重试。',
    unknown_error: '操作失败（{code}）。',
  },
  en: {
    app_name: 'Juchong', lang_name: 'English', other_lang: '中文',
    login_title: 'Log in with WeChat', login_button: 'Log in with WeChat', login_busy: 'Logging in…',
    login_hint: 'Log in to find stations, scan a gun and manage your wallet.',
    tab_stations: 'Stations', tab_scan: 'Scan', tab_wallet: 'Wallet', tab_me: 'Me',
    stations_title: 'Stations nearby', view_map: 'Map', view_list: 'List', free_only: 'Free guns only',
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
    settings_title: 'Settings', nickname: 'Nickname', phone: 'Phone', save: 'Save', saved: 'Saved',
    set_payment_password: 'Set payment password', change_payment_password: 'Change payment password',
    old_password: 'Current password', new_password: 'New password', password_set: 'Payment password set',
    password_not_set: 'No payment password', language: 'Language', logout: 'Log out',
    network_error: 'Network error: check your connection and try again.',
    server_error: 'The service is unavailable right now; try again shortly.',
    unknown_error: 'That did not work ({code}).',
  },
};

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
