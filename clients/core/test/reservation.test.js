'use strict';
// The reservation view model (clients/core/pages/reservation.js) over a scripted transport:
// the terms and the fee per chosen time, reserve, the countdown on injected timers, the
// reservation read again when its time is up, cancel; a start refused on a reserved gun
// offering the free gun the API suggests.
const test = require('node:test');
const assert = require('node:assert/strict');
const { context, core } = require('./helpers');

const P = core.pages;
const NOW = 1767225600000;
const TERMS = { sid: 'S1', gun: 'P1-1', gun_code: 'S1-P1-1', enabled: true, max_minutes: 45, minutes: 15, fee_fen: 200,
  refund_on_start: true, refund_on_cancel: false, keep_on_no_show: true, suspended_until: null, held_until: null };
const R = { reservation_id: 'rv1', state: 'active', sid: 'S1', station_name: '一号站', gun: 'P1-1', gun_code: 'S1-P1-1',
  gun_name: '1 号枪', created_at: NOW, until: NOW + 15 * 60000, fee_fen: 200, fee_state: 'held',
  ended_at: null, order_id: null, no_show: false };

test('reservation: terms, the fee for the chosen time, reserve, countdown, expiry read again', async () => {
  let clock = NOW;
  let state = 'active';
  const { ctx, sent, timers } = context({
    'GET /reservations/terms': (req) => Object.assign({}, TERMS, { minutes: Number(req.query.minutes || 45),
      fee_fen: Number(req.query.minutes || 45) > 30 ? 300 : 200 }),
    'POST /reservations': { status: 201, data: R },
    'GET /reservations/rv1': () => Object.assign({}, R, { state, fee_state: state === 'expired' ? 'kept' : 'held' }),
  }, { now: () => clock });
  const vm = P.reservation.createReservation(ctx);
  await vm.load('S1-P1-1');
  assert.deepEqual(vm.state.options.map((o) => o.minutes), [15, 30, 45]);
  assert.equal(vm.state.minutes, 15);
  assert.equal(vm.state.termsView.fee, '¥2.00');
  assert.deepEqual(vm.state.termsView.rules, ['按时开始充电：预约费退还', '取消预约：预约费不退', '到期未使用：预约费不退']);
  await vm.setMinutes(45);
  assert.equal(vm.state.termsView.fee, '¥3.00');
  await vm.setMinutes(15);
  await vm.reserve();
  assert.deepEqual(sent.filter((r) => r.method === 'POST').map((r) => r.body), [{ gun_code: 'S1-P1-1', minutes: 15 }]);
  assert.equal(vm.state.view.stateText, '预约中');
  assert.equal(vm.state.view.left, '剩余 15:00');
  assert.equal(vm.state.view.fee, '¥2.00 · 已冻结');
  assert.equal(timers.pending.length, 1);
  assert.equal(timers.pending[0].ms, P.reservation.TICK_MS);
  clock += 61000;
  await timers.fire();
  assert.equal(vm.state.view.left, '剩余 13:59');
  assert.equal(sent.filter((r) => r.path === '/reservations/rv1').length, 1); // read again after 30 s
  clock = R.until;
  state = 'expired';
  await timers.fire();
  assert.equal(vm.state.view.stateText, '已过期（未到）');
  assert.equal(vm.state.view.fee, '¥2.00 · 已扣除');
  assert.equal(vm.state.live, false);
  assert.equal(timers.pending.length, 0); // no countdown for an ended reservation
});

test('reservation: my reservation, cancel; none; a refusal shows the API message', async () => {
  const { ctx, timers } = context({
    'GET /reservations/current': R,
    'POST /reservations/rv1/cancel': Object.assign({}, R, { state: 'cancelled', fee_state: 'kept' }),
  });
  const vm = P.reservation.createReservation(ctx);
  await vm.openCurrent();
  assert.equal(vm.state.view.canCancel, true);
  await vm.cancel();
  assert.equal(vm.state.view.stateText, '已取消');
  assert.equal(vm.state.view.canCancel, false);
  assert.equal(timers.pending.length, 0);
  vm.dispose();

  const none = P.reservation.createReservation(context({}).ctx);
  await none.openCurrent();
  assert.equal(none.state.none, true);
  assert.equal(none.state.error, '');

  const refused = P.reservation.createReservation(context({
    'GET /reservations/terms': TERMS,
    'POST /reservations': { status: 409, data: { error: { code: 'reservation_exists', message: '您已有一个进行中的预约，请先使用或取消它。' } } },
  }).ctx);
  await refused.load('S1-P1-1');
  await refused.reserve();
  assert.equal(refused.state.errorCode, 'reservation_exists');
  assert.equal(refused.state.error, '您已有一个进行中的预约，请先使用或取消它。');
});

test('reservation: a station without reservations, a suspended driver, a gun held by another', async () => {
  for (const [terms, note, blocked] of [
    [Object.assign({}, TERMS, { enabled: false }), '该站暂不支持预约。', undefined],
    [Object.assign({}, TERMS, { suspended_until: NOW + 86400000 }), '因多次预约未到，', true],
    [Object.assign({}, TERMS, { held_until: NOW + 600000 }), '该枪已被预约，保留至', true],
  ]) {
    const vm = P.reservation.createReservation(context({ 'GET /reservations/terms': terms }).ctx);
    await vm.load('S1-P1-1');
    assert.ok(vm.state.termsView.note.startsWith(note), vm.state.termsView.note);
    assert.equal(vm.state.termsView.blocked, blocked);
  }
});

test('scan: a start refused on a reserved gun offers the free gun the API suggests', async () => {
  const { ctx } = context({
    'GET /guns/S1-P1-1': { station: { sid: 'S1', name: '一号站', online: true }, gun: { gun: 'P1-1', state: 'reserved' },
      wallet: { balance_fen: 5000 }, presets_fen: [3000] },
    'POST /orders': { status: 409, data: { error: { code: 'reserved', message: '该充电枪已被其他车主预约，请换一把空闲的枪（已为您推荐）。',
      nearest: null, nearest_gun: { sid: 'S1', gun: 'P1-2', code: 'S1-P1-2', name: '2 号枪' } } } },
  });
  const vm = P.scan.createScan(ctx);
  await vm.lookup('S1-P1-1');
  await vm.start();
  assert.equal(vm.state.errorCode, 'reserved');
  assert.deepEqual(vm.state.nearestGun, { sid: 'S1', gun: 'P1-2', code: 'S1-P1-2', name: '2 号枪' });
  assert.equal(vm.state.nearestGunText, '改用空闲的 2 号枪');
});

test("reservation: the tariff's own reservation fee is shown with how it is made up, in both languages", async () => {
  const priced = Object.assign({}, TERMS, { fee_fen: 123, fee_mode: 'tariff', fee_tariff_id: 'rsv-v1',
    tariff_fee: { fee_e4: 10000, per_minute_e4: 150 } });
  const routes = { 'GET /reservations/terms': (req) => Object.assign({}, priced, { minutes: Number(req.query.minutes || 45) }) };
  const vm = P.reservation.createReservation(context(routes).ctx);
  await vm.load('S1-P1-1');
  assert.equal(vm.state.termsView.fee, '¥1.23');
  assert.equal(vm.state.termsView.basis, '按电价计：每次 ¥1.00 + 每分钟 ¥0.015，共 15 分钟，合计四舍五入到分');
  const enCtx = context(routes).ctx;
  enCtx.setLang('en');
  const en = P.reservation.createReservation(enCtx);
  await en.load('S1-P1-1');
  assert.equal(en.state.termsView.basis,
    'From the tariff: ¥1.00 a reservation + ¥0.015 a minute, for 15 min, the total rounded to 0.01 CNY');
  // only a per-minute part; and a free tariff or a fee from elsewhere says nothing more
  const perMinute = P.reservation.createReservation(context({ 'GET /reservations/terms':
    Object.assign({}, priced, { tariff_fee: { fee_e4: 0, per_minute_e4: 125 } }) }).ctx);
  await perMinute.load('S1-P1-1');
  assert.equal(perMinute.state.termsView.basis, '按电价计：每分钟 ¥0.0125，共 15 分钟，合计四舍五入到分');
  for (const other of [{ tariff_fee: { fee_e4: 0, per_minute_e4: 0 }, fee_fen: 0 }, { tariff_fee: null, fee_mode: 'fixed' }]) {
    const vm2 = P.reservation.createReservation(context({ 'GET /reservations/terms': Object.assign({}, priced, other) }).ctx);
    await vm2.load('S1-P1-1');
    assert.equal(vm2.state.termsView.basis, '');
  }
});
