'use strict';
// The battery-swap view models (clients/core/pages/swap.js) over a scripted transport: swap
// stations near the driver, a station's packs ready now and predicted, choosing the pack type
// and the slot with the fee per slot, booking (the request on the wire), my booking with
// cancel and the history; and swap stations in the charging-station finder, marked.
const test = require('node:test');
const assert = require('node:assert/strict');
const { context, core } = require('./helpers');

const f = core.format;
const S = core.pages.swap;
const T = 1767225600000;
const M = 60000;
const PACK = { type_code: 'NIO-75', name: '75 kWh', kwh: 75, ready: 1, charging: 1, booked: 0, bookable_now: 1,
  predicted: [{ at: T, ready: 1 }, { at: T + 25 * M, ready: 2 }] };
const STATION = { sid: 'SW1', name: '换电一站', address: '浦东', lat: 31.2, lng: 121.4, kind: 'swap', distance_m: 1200,
  slot_minutes: 10, bays: { total: 2, free: 1, swapping: 1, maintenance: 0 }, pack_types: [PACK,
    Object.assign({}, PACK, { type_code: 'NIO-100', name: '100 kWh', kwh: 100, ready: 0, charging: 0, predicted: [{ at: T, ready: 0 }] })],
  slots: [
    { start: T, end: T + 10 * M, bays_free: 0, packs: { 'NIO-75': 1, 'NIO-100': 0 }, fee_fen: 100 },
    { start: T + 10 * M, end: T + 20 * M, bays_free: 2, packs: { 'NIO-75': 1, 'NIO-100': 0 }, fee_fen: 200 },
    { start: T + 30 * M, end: T + 40 * M, bays_free: 2, packs: { 'NIO-75': 2, 'NIO-100': 0 }, fee_fen: 400 },
  ],
  rules: { enabled: true, max_minutes: 60, fee_mode: 'tariff_idle', refund_on_start: true, refund_on_cancel: false,
    keep_on_no_show: true } };
const BOOKING = { booking_id: 'sw1', state: 'booked', sid: 'SW1', station_name: '换电一站', type_code: 'NIO-75',
  type_name: '75 kWh', slot_start: T + 10 * M, until: T + 20 * M, created_at: T, fee_fen: 200, fee_state: 'held',
  ended_at: null, no_show: false, bay_id: null };

test('swap stations near the driver: bays and packs ready by type', async () => {
  const { ctx, sent } = context({ 'GET /swap-stations': { stations: [STATION] } });
  const vm = S.createSwapStations(ctx);
  await vm.setCenter(31.2, 121.4);
  assert.deepEqual(sent[0].query, { lat: '31.200000', lng: '121.400000' });
  const [item] = vm.state.items;
  assert.equal(item.bays, '空闲工位 1/2');
  assert.deepEqual(item.packs.map((p) => p.text), ['75 kWh · 现有满电 1 块', '100 kWh · 现有满电 0 块']);
  assert.equal(item.distance, f.distance(1200));
  assert.equal(vm.state.empty, false);
});

test('swap station: packs predicted, slots for the chosen type, the fee per slot, book', async () => {
  const { ctx, sent } = context({
    'GET /swap-stations/SW1': STATION,
    'GET /wallet': { balance_fen: 1000, cash_fen: 1000, bonus_fen: 0, held_fen: 0, debt_fen: 0, refundable_fen: 1000 },
    'POST /swap-bookings': { status: 201, data: BOOKING },
  });
  const vm = S.createSwapStation(ctx);
  await vm.load('SW1');
  assert.equal(vm.state.error, '');
  assert.equal(vm.state.item.bays, '空闲工位 1/2');
  assert.equal(vm.state.item.baysDetail, '换电中 1 · 维护中 0');
  const [t75] = vm.state.types;
  assert.equal(t75.readyText, '现有满电 1 块');
  assert.deepEqual(t75.predicted.map((x) => x.text), [f.clock(T + 25 * M) + ' 前可用 2 块']);
  assert.equal(vm.state.balance, '¥10.00');
  // the current slot has no bay left: the first open slot is chosen, its fee shown
  assert.deepEqual(vm.state.slots.map((x) => x.open), [false, true, true]);
  assert.equal(vm.state.slots[0].note, '已约满');
  assert.equal(vm.state.slotStart, T + 10 * M);
  assert.equal(vm.state.fee, '¥2.00');
  assert.deepEqual(vm.state.rules, ['按时换电：预约费退还', '取消预约：预约费不退', '到期未使用：预约费不退']);
  vm.setSlot(T + 30 * M);
  assert.equal(vm.state.fee, '¥4.00');
  vm.setSlot(T); // not open: stays bookable on an open one
  assert.notEqual(vm.state.slotStart, T);
  vm.setType('NIO-100');
  assert.deepEqual(vm.state.slots.map((x) => x.note), ['已约满', '无电池', '无电池']);
  assert.equal(vm.state.canBook, false);
  assert.equal(await vm.book(), undefined);
  vm.setType('NIO-75');
  vm.setSlot(T + 10 * M);
  const b = await vm.book();
  assert.equal(b.booking_id, 'sw1');
  assert.deepEqual(sent.filter((r) => r.method === 'POST').map((r) => [r.path, r.body]),
    [['/swap-bookings', { sid: 'SW1', type_code: 'NIO-75', slot_start: T + 10 * M }]]);
});

test('swap station: a refusal shows the API message; a station without bookings says so', async () => {
  const { ctx } = context({
    'GET /swap-stations/SW1': Object.assign({}, STATION, { rules: Object.assign({}, STATION.rules, { enabled: false }),
      slots: [] }),
    'GET /wallet': { balance_fen: 0 },
    'POST /swap-bookings': { status: 402, data: { error: { code: 'insufficient_balance', message: '余额不足。' } } },
  });
  const vm = S.createSwapStation(ctx);
  await vm.load('SW1');
  assert.equal(vm.state.enabled, false);
  assert.equal(vm.state.canBook, false);
  vm.store.set({ canBook: true, slotStart: T + 10 * M, typeCode: 'NIO-75' });
  assert.equal(await vm.book(), undefined);
  assert.equal(vm.state.errorCode, 'insufficient_balance');
  assert.equal(vm.state.error, '余额不足。');
});

test('my swap booking: current, cancel with the history read again; none; English', async () => {
  let cancelled = false;
  const { ctx, sent, storage } = context({
    'GET /swap-bookings/current': () => (cancelled ? { status: 404, data: { error: { code: 'not_found', message: '无' } } }
      : { status: 200, data: BOOKING }),
    'GET /swap-bookings': () => ({ bookings: [Object.assign({}, BOOKING, cancelled ? { state: 'cancelled', fee_state: 'kept' } : {})] }),
    'POST /swap-bookings/sw1/cancel': () => { cancelled = true; return Object.assign({}, BOOKING, { state: 'cancelled', fee_state: 'kept' }); },
  });
  const vm = S.createSwapBooking(ctx);
  await vm.open();
  assert.equal(vm.state.view.stateText, '已预约');
  assert.equal(vm.state.view.fee, '¥2.00 · 已冻结');
  assert.equal(vm.state.view.slot, f.dateTime(T + 10 * M) + '–' + f.clock(T + 20 * M));
  assert.equal(vm.state.view.canCancel, true);
  await vm.cancel();
  assert.equal(vm.state.view.stateText, '已取消');
  assert.equal(vm.state.view.canCancel, false);
  assert.deepEqual(vm.state.history.map((h) => h.state), ['cancelled']);
  assert.equal(sent.filter((r) => r.path === '/swap-bookings').length, 2);
  core.i18n.saveLang(storage, 'en');
  await vm.open();
  assert.equal(vm.state.none, true);
  assert.equal(vm.state.history[0].stateText, 'Cancelled');
  assert.equal(vm.state.history[0].fee, '¥2.00 · kept');
});

test('the charging-station finder marks swap stations and links their swap page', async () => {
  const charging = { sid: 'S1', name: '充电站', lat: 31.2, lng: 121.4, distance_m: 100, online: true, guns_total: 2,
    guns_free: 1, kind: 'charging' };
  const swapSt = { sid: 'SW1', name: '换电一站', lat: 31.21, lng: 121.41, distance_m: 300, online: false, guns_total: 0,
    guns_free: 0, kind: 'swap', swap: { bays_free: 1, bays_total: 2, packs_ready: 3 } };
  const { ctx } = context({ 'GET /stations': { stations: [charging, swapSt] } });
  const vm = core.pages.stations.createStations(ctx);
  await vm.load();
  const [a, b] = vm.state.items;
  assert.equal(a.swap, false);
  assert.equal(b.swap, true);
  assert.equal(b.swapText, '空闲工位 1/2 · 满电电池 3 块');
  assert.deepEqual(vm.state.markers.map((m) => [m.kind, m.free, m.total]), [['free', 1, 2], ['swap', 1, 2]]);
  assert.equal(vm.isSwap('SW1'), true);
  assert.equal(vm.isSwap('S1'), false);
});
