'use strict';
// "Charge until departure" (orderly charging) on the start and charging pages. The phone's
// clock is in Shanghai here (the departure is a time of day on it).
process.env.TZ = 'Asia/Shanghai';
const test = require('node:test');
const assert = require('node:assert/strict');
const { context, core } = require('./helpers');

const P = core.pages;
const NOW = 1767225600000; // 2026-01-01 08:00 in Shanghai (the helpers' clock)
const GUN = { station: { sid: 'S1', name: '张江站', address: '', online: true, load_level: 'normal', limiting: false },
  gun: { gun: 'P1-1', code: 'JC0001', name: '1号枪', state: 'plugged', rated_power_w: 7000 },
  wallet: { balance_fen: 5000, debt_fen: 0 }, price_now: null, price_next: null, energy_wh_for_balance: 40502,
  presets_fen: [3000, 5000, 10000], payment_password_set: false, payment_password_required_above_fen: null };

test('departure: the next such time of day, tomorrow when it has passed today', () => {
  const dep = P.scan.departureOf;
  assert.equal(dep('', NOW), null);
  assert.equal(dep('18:30', NOW), NOW + 10.5 * 3600e3); // this evening
  assert.equal(dep('07:30', NOW), NOW + 23.5 * 3600e3); // tomorrow morning
  assert.equal(dep('08:00', NOW), NOW + 24 * 3600e3); // now is not ahead
  assert.equal(dep('7:05', NOW), NOW + (23 * 60 + 5) * 60e3);
  for (const bad of ['24:00', '7.30', '07:3', 'tomorrow', '07:30pm']) assert.deepEqual(dep(bad, NOW), { error: 'invalid_departure' });
});

test('scan: charging until departure sends the energy wanted and departure_at', async () => {
  const { ctx, sent } = context({
    'GET /guns/JC0001': GUN,
    'POST /orders': { status: 201, data: { order_id: 'O3', state: 'starting', departure_at: NOW + 23.5 * 3600e3 } },
  });
  const vm = P.scan.createScan(ctx);
  await vm.lookup('JC0001');
  vm.setMode('energy');
  vm.setEnergy('30');
  vm.setDeparture('7.30');
  assert.equal(await vm.start(), undefined);
  assert.equal(vm.state.errorCode, 'invalid_departure');
  assert.equal(sent.length, 1); // nothing sent
  vm.setDeparture('07:30');
  await vm.start();
  assert.deepEqual(sent[1].body, { gun_code: 'JC0001', limit: { mode: 'energy', value: 30000 }, pay: 'wallet',
    departure_at: NOW + 23.5 * 3600e3 });
  // a departure typed in another mode is not sent
  vm.setMode('amount');
  await vm.start();
  assert.equal(sent[2].body.departure_at, undefined);
});

test('charging: the plan in words', async () => {
  const dep = NOW + 23.5 * 3600e3;
  const base = { order_id: 'O3', state: 'charging', energy_wh: 0, power_w: 0, cost_fen: 0, started_at: NOW, departure_at: dep };
  const cases = [
    [{ orderly: null }, '有序充电：07:30 前充好'],
    [{ orderly: { status: 'on_track', energy_wh: 30000, expected_wh: 30000, finish_at: dep - 3600e3, departure_at: dep } }, '预计 07:30 前充好'],
    [{ orderly: { status: 'cannot_meet', energy_wh: 30000, expected_wh: 24000, finish_at: dep, departure_at: dep } },
      '07:30 前充不到 30.00 kWh：预计 24.00 kWh'],
    [{ orderly: { status: 'done', energy_wh: 30000, expected_wh: 30000, finish_at: dep, departure_at: dep } }, '所需电量已充好'],
    [{ departure_at: null, orderly: null }, ''],
  ];
  for (const [extra, words] of cases) {
    const { ctx } = context({ 'GET /orders/O3': Object.assign({}, base, extra) });
    const vm = P.charging.createCharging(ctx);
    await vm.open('O3');
    assert.equal(vm.state.view.orderly, words);
    vm.dispose();
  }
  const { ctx } = context({ 'GET /orders/O3': Object.assign({}, base, { orderly: { status: 'cannot_meet', energy_wh: 30000,
    expected_wh: 24000, finish_at: dep, departure_at: dep } }) });
  ctx.setLang('en');
  const vm = P.charging.createCharging(ctx);
  await vm.open('O3');
  assert.equal(vm.state.view.orderly, 'Cannot reach 30.00 kWh by 07:30: 24.00 kWh expected');
  vm.dispose();
});
