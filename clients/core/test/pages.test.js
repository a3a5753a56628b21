'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { context, core } = require('./helpers');

const P = core.pages;
const STATION = { sid: 'S1', name: '张江站', address: '科苑路 1 号', lat: 31.2, lng: 121.6, distance_m: 1234, online: true,
  load_level: 'normal', limiting: false, guns_total: 4, guns_free: 1, max_power_w: 120000,
  price_now: { period: 'peak', price_e4: 12345, from: 0, until: 0 }, price_next: { period: 'flat', price_e4: 8000, from: 1767240000000 } };
const GUN = { station: { sid: 'S1', name: '张江站', address: '', online: true, load_level: 'normal', limiting: false },
  gun: { gun: 'P1-1', code: 'JC0001', name: '1号枪', state: 'plugged', rated_power_w: 7000 },
  wallet: { balance_fen: 5000, debt_fen: 0 }, price_now: STATION.price_now, price_next: null, energy_wh_for_balance: 40502,
  presets_fen: [3000, 5000, 10000], payment_password_set: false, payment_password_required_above_fen: null };

test('stations: list items and GCJ-02 markers from the API', async () => {
  const { ctx, sent } = context({ 'GET /stations': { stations: [STATION, Object.assign({}, STATION, { sid: 'S2', lat: null })] } });
  const vm = P.stations.createStations(ctx);
  await vm.setCenter(31.123456789, 121.5);
  assert.deepEqual(sent[0].query, { lat: '31.123457', lng: '121.500000' });
  assert.equal(vm.state.items[0].distance, '1.2 km');
  assert.equal(vm.state.items[0].free, '空闲 1/4');
  assert.equal(vm.state.items[0].priceNow, '¥1.2345/kWh');
  assert.equal(vm.state.markers.length, 1);
  assert.deepEqual([vm.state.markers[0].latitude, vm.state.markers[0].longitude], [31.2, 121.6]);
  assert.equal(vm.sidOfMarker(0), 'S1');
  await vm.toggleFree();
  assert.equal(sent[1].query.free, '1');
  // "shared, open now": private piles open to others at this moment (docs/sharing.md)
  await vm.toggleShared();
  assert.deepEqual([sent[2].query.free, sent[2].query.shared], ['1', '1']);
  await vm.toggleFree();
  assert.deepEqual([sent[3].query.free, sent[3].query.shared], [undefined, '1']);
  await vm.toggleShared();
  assert.equal(sent[4].query.shared, undefined);
});

test('stations: marker kinds and colours by free guns', () => {
  const kinds = P.stations.markersOf([STATION, Object.assign({}, STATION, { sid: 'S2', guns_free: 0 }),
    Object.assign({}, STATION, { sid: 'S3', online: false, guns_free: 2 })]).map((m) => [m.sid, m.kind, m.color, m.free, m.total]);
  assert.deepEqual(kinds, [['S1', 'free', '#0b7a4b', 1, 4], ['S2', 'busy', '#d35400', 0, 4], ['S3', 'offline', '#8a8f8c', 2, 4]]);
});

test('login: a handed-over token is kept and the profile loaded with it; refusals in words', async () => {
  const { ctx, sent, storage } = context({ 'GET /me': { id: 7, nickname: 'alice' } });
  const vm = P.login.createLogin(ctx);
  await vm.adopt('jcd_handed');
  assert.equal(sent[0].headers.Authorization, 'Bearer jcd_handed');
  assert.equal(storage.get('jc_token'), 'jcd_handed');
  assert.deepEqual([vm.state.loggedIn, vm.state.driver.nickname], [true, 'alice']);
  vm.showError('wechat_code_used');
  assert.deepEqual([vm.state.errorCode, vm.state.error], ['wechat_code_used', '微信授权码已使用过，请重新登录。']);
  vm.showError('<img src=x>');
  assert.deepEqual([vm.state.errorCode, vm.state.error], ['wechat_login_failed', '微信登录失败，请重新登录。']);
  vm.showError('no_such_code');
  assert.equal(vm.state.error, '微信登录失败，请重新登录。');
  const bad = context({ 'GET /me': { status: 401, data: { error: { code: 'unauthorized', message: '请先登录。' } } } });
  const vm2 = P.login.createLogin(bad.ctx);
  await vm2.adopt('jcd_forged');
  assert.equal(vm2.state.error, '请先登录。');
  assert.equal(bad.storage.get('jc_token'), null);  // a refused token is not kept
});

test('scan: QR content, presets, balance and energy it buys', async () => {
  assert.equal(P.scan.parseGunCode('https://jc.example.cn/app/scan?g=JC0001'), 'JC0001');
  assert.equal(P.scan.parseGunCode(' JC0001 '), 'JC0001');
  assert.equal(P.scan.parseGunCode('https://evil.example/x'), null);
  assert.equal(P.scan.parseGunCode('<script>'), null);
  const { ctx, sent } = context({ 'GET /guns/JC0001': GUN });
  const vm = P.scan.createScan(ctx);
  await vm.lookup('https://jc.example.cn/app/scan?g=JC0001');
  assert.equal(sent[0].path, '/guns/JC0001');
  assert.deepEqual(vm.state.presets.map((p) => p.label), ['¥30', '¥50', '¥100']);
  assert.equal(vm.state.view.balance, '¥50.00');
  assert.equal(vm.state.view.energyForBalance, '余额约可充 40.50 kWh');
});

test('scan: each way to charge becomes the limit the API takes', () => {
  const base = { mode: 'amount', amountFen: 5000, customAmount: '', energyKwh: '', timeMin: '' };
  const lim = (patch) => P.scan.limitOf(Object.assign({}, base, patch));
  assert.deepEqual(lim({}), { limit: { mode: 'amount', value: 5000 } });
  assert.deepEqual(lim({ customAmount: '12.5' }), { limit: { mode: 'amount', value: 1250 } });
  assert.deepEqual(lim({ customAmount: '0.5' }), { error: 'amount_too_small' });
  assert.deepEqual(lim({ customAmount: '1.234' }), { error: 'invalid_amount' });
  assert.deepEqual(lim({ mode: 'energy', energyKwh: '20.5' }), { limit: { mode: 'energy', value: 20500 } });
  assert.deepEqual(lim({ mode: 'energy', energyKwh: '0' }), { error: 'invalid_value' });
  assert.deepEqual(lim({ mode: 'time', timeMin: '90' }), { limit: { mode: 'time', value: 5400 } });
  assert.deepEqual(lim({ mode: 'time', timeMin: '' }), { error: 'choose_value' });
  assert.deepEqual(lim({ mode: 'full' }), { limit: { mode: 'full', value: 0 } });
});

for (const [code, message] of [
  ['blocked_by_load', '该站变压器负荷已满，暂时无法开始充电。'],
  ['station_offline', '电站离线，暂时无法充电。'],
  ['not_plugged', '请先将充电枪插入车辆。'],
]) {
  test(`scan: a start refused with ${code} shows the API's message and the nearest station`, async () => {
    const nearest = code === 'not_plugged' ? undefined : Object.assign({}, STATION, { sid: 'S9', name: '金科路站', distance_m: 800 });
    const { ctx, sent } = context({
      'GET /guns/JC0001': GUN,
      'POST /orders': { status: 409, data: { error: { code, message, nearest } } },
    });
    const vm = P.scan.createScan(ctx);
    await vm.lookup('JC0001');
    vm.choosePreset(10000);
    assert.equal(await vm.start(), undefined);
    assert.deepEqual(sent[1].body, { gun_code: 'JC0001', limit: { mode: 'amount', value: 10000 }, pay: 'wallet' });
    assert.equal(vm.state.errorCode, code);
    assert.equal(vm.state.error, message);
    if (nearest) {
      assert.equal(vm.state.nearest.sid, 'S9');
      assert.equal(vm.state.nearestText, '附近有空闲充电枪的电站：金科路站（800 m）');
    } else {
      assert.equal(vm.state.nearest, null);
    }
  });
}

test('scan: the payment password is asked for when set, then sent', async () => {
  const { ctx, sent } = context({
    'GET /guns/JC0001': Object.assign({}, GUN, { payment_password_set: true }),
    'POST /orders': { status: 201, data: { order_id: 'O1', state: 'starting' } },
  });
  const vm = P.scan.createScan(ctx);
  await vm.lookup('JC0001');
  assert.equal(await vm.start(), undefined);
  assert.equal(vm.state.askPassword, true);
  assert.equal(sent.length, 1);
  vm.setPassword('246810');
  const order = await vm.start();
  assert.equal(order.order_id, 'O1');
  assert.equal(sent[1].body.payment_password, '246810');
});

test('scan: pay-per-session sends pay "wechat" without the wallet password and gives pay_params', async () => {
  const { ctx, sent } = context({
    'GET /guns/JC0001': Object.assign({}, GUN, { payment_password_set: true }),
    'POST /orders': { status: 201, data: { order_id: 'O2', state: 'created', pay: 'wechat', pay_params: { appId: 'wx1', paySign: 's' } } },
  });
  const vm = P.scan.createScan(ctx);
  await vm.lookup('JC0001');
  vm.setPay('wechat');
  vm.setMode('energy');
  vm.setEnergy('10');
  const order = await vm.start();
  assert.deepEqual(sent[1].body, { gun_code: 'JC0001', limit: { mode: 'energy', value: 10000 }, pay: 'wechat' });
  assert.equal(order.pay_params.appId, 'wx1');
  assert.equal(vm.state.askPassword, false);
});

test('station: guns in the protocol vocabulary, idle fee', async () => {
  const { ctx } = context({ 'GET /stations/S1': Object.assign({}, STATION, {
    guns: [{ gun: 'P1-1', code: 'JC0001', name: '1号枪', state: 'available', rated_power_w: 7000, power_w: 0 },
      { gun: 'P1-2', code: 'JC0002', name: null, state: 'suspended_evse', rated_power_w: 120000, power_w: 0 },
      { gun: 'P1-3', code: 'JC0003', name: '3号枪', state: 'something_new', rated_power_w: null }],
    idle_fee: { grace_min: 15, step_min: 10, fen_per_step: 100, cap_fen: 3000 } }) });
  const vm = P.station.createStation(ctx);
  await vm.load('S1');
  assert.deepEqual(vm.state.guns.map((g) => [g.name, g.stateText, g.free, g.rated]),
    [['1号枪', '空闲', true, '7 kW'], ['P1-2', '桩暂停', false, '120 kW'], ['3号枪', 'something_new', false, '']]);
  assert.equal(vm.state.idleFee, '充电结束 15 分钟后每 10 分钟 ¥1.00，最多 ¥30.00');
});

test('charging: polls every 5 s while running, stops polling once settled; stop', async () => {
  const states = [
    { order_id: 'O1', state: 'charging', energy_wh: 1500, power_w: 7000, cost_fen: 180, soc: 40, started_at: 1767225000000, duration_s: null },
    { order_id: 'O1', state: 'charging', energy_wh: 1600, power_w: 7000, cost_fen: 192, soc: 41, started_at: 1767225000000, duration_s: null },
    { order_id: 'O1', state: 'settled', energy_wh: 1600, power_w: 0, cost_fen: 192, soc: 41, started_at: 1767225000000, duration_s: 605 },
  ];
  let n = 0;
  const { ctx, sent, timers } = context({
    'GET /orders/O1': () => ({ status: 200, data: states[Math.min(n++, states.length - 1)] }),
    'POST /orders/O1/stop': { status: 202, data: Object.assign({}, states[1], { state: 'ended' }) },
  });
  const vm = P.charging.createCharging(ctx);
  await vm.open('O1');
  assert.equal(vm.state.view.energy, '1.50 kWh');
  assert.equal(vm.state.view.cost, '¥1.80');
  assert.equal(vm.state.view.elapsed, '10分钟');
  assert.equal(vm.state.view.soc, '40%');
  assert.equal(timers.pending.length, 1);
  assert.equal(timers.pending[0].ms, 5000);
  await timers.fire();
  assert.equal(vm.state.view.energy, '1.60 kWh');
  await vm.stop();
  assert.equal(sent[sent.length - 1].path, '/orders/O1/stop');
  assert.equal(vm.state.view.stateText, '已结束，结算中');
  await timers.fire();
  assert.equal(vm.state.done, true);
  assert.equal(timers.pending.length, 0);
  vm.dispose();
});

test('charging: a failed poll keeps the picture and tries again', async () => {
  let fail = false;
  const { ctx, timers } = context({
    'GET /orders/O1': () => (fail ? { status: 503, data: null } : { status: 200, data: { order_id: 'O1', state: 'charging', energy_wh: 10 } }),
  });
  const vm = P.charging.createCharging(ctx);
  await vm.open('O1');
  fail = true;
  await timers.fire();
  assert.equal(vm.state.view.energy, '0.01 kWh');
  assert.equal(vm.state.errorCode, 'server_error');
  assert.equal(timers.pending.length, 1);
  vm.dispose();
  assert.equal(timers.pending.length, 0);
});

test('order: lines per period, idle fee, stop reason; rating once', async () => {
  let rated = null;
  const order = { order_id: 'O1', state: 'settled', station_name: '张江站', gun: 'P1-1', started_at: 1767225000000, ended_at: 1767228600000,
    duration_s: 3600, energy_wh: 20000, stop_reason: 'limit', idle_fen: 300, total_fen: 2300, debt_fen: 0, refund_fen: 0,
    lines: [{ kind: 'electricity', period: 'peak', energy_wh: 12000, fen: 1200 }, { kind: 'service', period: 'peak', energy_wh: 12000, fen: 480 },
      { kind: 'electricity', period: 'flat', energy_wh: 8000, fen: 240 }, { kind: 'service', period: 'flat', energy_wh: 8000, fen: 80 },
      { kind: 'idle', period: null, energy_wh: null, fen: 300 }], rating: null };
  const { ctx, sent } = context({
    'GET /orders/O1': () => Object.assign({}, order, { rating: rated }),
    'POST /orders/O1/rating': (req) => { rated = req.body; return { status: 200, data: rated }; },
  });
  const vm = P.order.createOrder(ctx);
  await vm.load('O1');
  assert.deepEqual(vm.state.view.lines.map((l) => [l.label, l.energy, l.fen]), [
    ['电费 · 峰', '12.00 kWh', '¥12.00'], ['服务费 · 峰', '12.00 kWh', '¥4.80'],
    ['电费 · 平', '8.00 kWh', '¥2.40'], ['服务费 · 平', '8.00 kWh', '¥0.80'], ['占位费', '', '¥3.00']]);
  assert.equal(vm.state.view.total, '¥23.00');
  assert.equal(vm.state.view.idle, '¥3.00');
  assert.equal(vm.state.view.stopReason, '达到设定量');
  assert.equal(vm.state.view.canRate, true);
  await vm.rate();
  assert.equal(vm.state.errorCode, 'stars_required');
  vm.setStars(4);
  vm.setComment('  很快 ');
  await vm.rate();
  assert.deepEqual(sent.find((r) => r.method === 'POST').body, { stars: 4, comment: '很快' });
  assert.equal(vm.state.view.canRate, false);
});

test('wallet: balance, histories, recharge gives pay params, refund', async () => {
  const { ctx, sent } = context({
    'GET /wallet': { balance_fen: 3050, cash_fen: 3000, bonus_fen: 50, held_fen: 0, debt_fen: 0, refundable_fen: 3000 },
    'GET /wallet/recharges': { recharges: [{ recharge_id: 'R1', amount_fen: 5000, state: 'paid', created_at: 1767225000000 }] },
    'GET /wallet/refunds': { refunds: [] },
    'POST /wallet/recharges': { status: 201, data: { recharge_id: 'R2', amount_fen: 2000, state: 'pending', pay_params: { appId: 'wx1', paySign: 's' } } },
    'POST /wallet/refunds': { status: 202, data: { refund_id: 'F1', amount_fen: 3000, state: 'processing', parts: [] } },
  });
  const vm = P.wallet.createWallet(ctx);
  await vm.load();
  assert.equal(vm.state.view.balance, '¥30.50');
  assert.equal(vm.state.recharges[0].stateText, '已到账');
  vm.setCustomAmount('20');
  const r = await vm.recharge();
  assert.equal(r.pay_params.appId, 'wx1');
  assert.deepEqual(sent.find((x) => x.method === 'POST').body, { amount_fen: 2000 });
  await vm.refund();
  assert.deepEqual(sent.filter((x) => x.method === 'POST')[1].body, {});
});

test('wallet: each recharge names its channel, each refund its kind and route, in both languages', async () => {
  const routes = {
    'GET /wallet': { balance_fen: 0, cash_fen: 0, bonus_fen: 0, held_fen: 0, debt_fen: 0, refundable_fen: 0 },
    'GET /wallet/recharges': { recharges: [
      { recharge_id: 'R3', purpose: 'wallet', channel: 'h5', amount_fen: 100, state: 'paid', created_at: 1767225000000 },
      { recharge_id: 'R2', purpose: 'session', channel: 'jsapi', amount_fen: 200, state: 'paid', created_at: 1767224000000 },
      { recharge_id: 'R1', purpose: 'wallet', channel: 'oa_jsapi', amount_fen: 300, state: 'paid', created_at: 1767223000000 },
      { recharge_id: 'R0', purpose: 'wallet', channel: null, amount_fen: 400, state: 'paid', created_at: 1767222000000 }] },
    'GET /wallet/refunds': { refunds: [
      { refund_id: 'F2', amount_fen: 50, state: 'success', order_id: 'O1', created_at: 1767225000000, parts: [] },
      { refund_id: 'F1', amount_fen: 60, state: 'processing', order_id: null, created_at: 1767224000000, parts: [] }] },
  };
  const { ctx } = context(routes);
  const vm = P.wallet.createWallet(ctx);
  await vm.load();
  assert.deepEqual(vm.state.recharges.map((r) => r.channelText), ['微信H5支付', '微信小程序支付 · 单次充电预付', '微信内网页支付', '']);
  assert.deepEqual(vm.state.refunds.map((r) => [r.kindText, r.routeText]),
    [['预付款未用部分', '原路退回微信支付'], ['余额退款', '原路退回微信支付']]);
  const en = context(routes);
  en.ctx.setLang('en');
  const vmEn = P.wallet.createWallet(en.ctx);
  await vmEn.load();
  assert.deepEqual(vmEn.state.recharges.map((r) => r.channelText),
    ['WeChat Pay (H5)', 'WeChat Pay (mini-program) · Session prepayment', 'WeChat Pay (in WeChat)', '']);
  assert.equal(vmEn.state.refunds[1].kindText + ' · ' + vmEn.state.refunds[1].routeText,
    'Balance refund · Back to the original WeChat payment');
});

test('settings: profile, payment password, language', async () => {
  const me = { id: 7, nickname: null, phone: null, has_payment_password: false };
  const { ctx, sent } = context({
    'GET /me': me,
    'PATCH /me': (req) => Object.assign({}, me, req.body),
    'POST /payment-password': { status: 201, data: { has_payment_password: true } },
    'PUT /payment-password': { status: 403, data: { error: { code: 'payment_password_wrong', message: '支付密码错误，还可尝试 4 次。' } } },
  });
  const vm = P.settings.createSettings(ctx);
  await vm.load();
  vm.setField('nickname', '小王');
  await vm.save();
  assert.deepEqual(sent[1].body, { nickname: '小王' });
  vm.setField('newPassword', '246810');
  await vm.savePassword();
  assert.equal(sent[2].path, '/payment-password');
  assert.equal(vm.state.hasPassword, true);
  vm.setField('oldPassword', '000000');
  await vm.savePassword();
  assert.equal(vm.state.error, '支付密码错误，还可尝试 4 次。');
  vm.setLang('en');
  assert.equal(ctx.t('save'), 'Save');
  await vm.load();
  assert.equal(sent[sent.length - 1].headers['Accept-Language'], 'en');
});

test('records: pages by `before`', async () => {
  const page = Array.from({ length: 20 }, (_, i) => ({ order_id: 'O' + i, state: 'settled', created_at: 2000 - i, energy_wh: 1000, total_fen: 100 }));
  const { ctx, sent } = context({ 'GET /orders': (req) => (req.query.before ? { orders: [] } : { orders: page }) });
  const vm = P.records.createRecords(ctx);
  await vm.load();
  assert.equal(vm.state.more, true);
  await vm.more();
  assert.equal(sent[1].query.before, '1981');
  assert.equal(vm.state.more, false);
  assert.equal(vm.state.items.length, 20);
});

test('wallet: an H5 recharge names its channel; back from paying, the cloud decides how it ended', async () => {
  let asked = 0;
  const { ctx, sent, timers } = context({
    'GET /wallet': { balance_fen: 5000, cash_fen: 5000, bonus_fen: 0, held_fen: 0, debt_fen: 0, refundable_fen: 5000 },
    'GET /wallet/recharges': { recharges: [] },
    'GET /wallet/refunds': { refunds: [] },
    'POST /wallet/recharges': { status: 201, data: { recharge_id: 'TU1', amount_fen: 5000, state: 'pending', channel: 'h5',
      h5_url: 'https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx1&package=1' } },
    // pending twice (the notification not in yet), then paid
    'GET /wallet/recharges/TU1': () => { asked += 1; return { recharge_id: 'TU1', state: asked < 3 ? 'pending' : 'paid' }; },
  });
  const vm = P.wallet.createWallet(ctx);
  const r = await vm.recharge('h5');
  assert.equal(r.h5_url.indexOf('https://wx.tenpay.com/'), 0);
  assert.deepEqual(sent.find((x) => x.method === 'POST').body, { amount_fen: 5000, channel: 'h5' });
  const done = vm.confirm('TU1', 5, 1000);
  for (let i = 0; i < 20 && asked < 3; i += 1) {
    await new Promise((resolve) => setImmediate(resolve));
    if (timers.pending.length) timers.fire();
  }
  const got = await done;
  assert.equal(got.state, 'paid');
  assert.equal(asked, 3);
  assert.equal(vm.state.notice, '充值成功，已到账。');
  assert.equal(vm.state.view.balance, '¥50.00');
});

test('wallet: a recharge still pending after every look says so, and is not shown as paid', async () => {
  const { ctx, timers } = context({
    'GET /wallet': { balance_fen: 0, cash_fen: 0, bonus_fen: 0, held_fen: 0, debt_fen: 0, refundable_fen: 0 },
    'GET /wallet/recharges': { recharges: [] },
    'GET /wallet/refunds': { refunds: [] },
    'GET /wallet/recharges/TU2': { recharge_id: 'TU2', state: 'pending' },
  });
  const vm = P.wallet.createWallet(ctx);
  const done = vm.confirm('TU2', 3, 1000);
  for (let i = 0; i < 20; i += 1) {
    await new Promise((resolve) => setImmediate(resolve));
    if (timers.pending.length) timers.fire();
  }
  await done;
  assert.equal(vm.state.notice, '尚未收到支付结果，请稍后刷新查看。');
  assert.equal(vm.state.view.balance, '¥0.00');
});
