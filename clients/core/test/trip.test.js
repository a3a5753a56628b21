'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const core = require('..');
const { context } = require('./helpers');

const PLAN = {
  feasible: true, distance_m: 150000, drive_s: 6000, charge_s: 648, wait_s: 0, total_s: 6648, cost_fen: 900,
  depart_at: 1767225600000, arrive_at: 1767232248000, arrival_soc_pct: 10, excluded: {}, candidates: 2, legs: [],
  road: { source: 'osm', note: 'OpenStreetMap road graph', estimated_detours: false, distance_m: 150000, drive_s: 6000 },
  polyline: [[30, 110], [30, 111.5]],
  stops: [{ sid: 'A', name: '嘉兴服务区', lat: 30, lng: 110.5, arrive_at: 1767227600000, arrival_soc_pct: 15,
    wait_s: 0, charge_s: 648, depart_soc_pct: 60, energy_wh: 9000, power_kw: 25, dc: true, load_level: 'capped',
    price: { period: 'valley', price_e4: 10000, from: 0, until: null }, cost_fen: 900, reservable: true, guns: 2,
    guns_busy: 0, detour_m: 0, depart_at: 1767228248000 }],
};

test('trip: the form becomes the API body; stops and totals shown as sent', async () => {
  const { ctx, sent } = context({ 'POST /trips/plan': PLAN });
  const vm = core.pages.trip.createTrip(ctx);
  vm.setOrigin(31.2304, 121.4737);
  vm.setField('destLat', '30.2741');
  vm.setField('destLng', '120.1551');
  vm.setField('soc', '40');
  vm.setField('reserve', true);
  await vm.plan();
  assert.deepEqual(sent[0].body, {
    origin: { lat: 31.2304, lng: 121.4737 }, destination: { lat: 30.2741, lng: 120.1551 },
    car: { battery_kwh: 60, max_dc_kw: 100, consumption: [[0, 160]] }, soc_pct: 40, min_arrival_soc_pct: 10,
    min_stop_soc_pct: 10, reserve: true,
  });
  const s = vm.state;
  assert.equal(s.feasible, true);
  assert.equal(s.stops[0].name, '嘉兴服务区');
  assert.equal(s.stops[0].soc, '15% → 60%');
  assert.equal(s.stops[0].cost, '¥9.00');
  assert.equal(s.stops[0].power, '25 kW （限流）');
  assert.equal(s.stops[0].price, '¥1.00/kWh · 谷');
  assert.equal(s.road, '道路：OpenStreetMap 路网');
  assert.deepEqual(s.summary[5], ['充电费用', '¥9.00']);
});

test('trip: a wait from the station\'s history says it is usually busy then', async () => {
  const usual = { ...PLAN.stops[0], wait_s: 600, busy_at_arrival_pct: 82.4, occupancy_source: 'history' };
  const typical = { ...PLAN.stops[0], sid: 'B', wait_s: 600, busy_at_arrival_pct: 50, occupancy_source: 'typical' };
  const quiet = { ...PLAN.stops[0], sid: 'C', wait_s: 60, busy_at_arrival_pct: 20, occupancy_source: 'history' };
  const { ctx } = context({ 'POST /trips/plan': { ...PLAN, stops: [usual, typical, quiet] } });
  const vm = core.pages.trip.createTrip(ctx);
  vm.setOrigin(31.2, 121.4);
  vm.setField('destLat', '30.2');
  vm.setField('destLng', '120.1');
  await vm.plan();
  const [a, b, c] = vm.state.stops.map((s) => s.wait);
  assert.match(a, /^此时段通常繁忙（约 82% 的枪在用），预计排队 /);
  assert.match(b, /^预计排队 /);
  assert.match(c, /^预计排队 /);
});

test('trip: no plan shows the API reason; a bad field never reaches the API', async () => {
  const reason = { code: 'out_of_range', message: 'No station within range of 60 km at 40.0 % SoC from the origin' };
  const { ctx, sent } = context({ 'POST /trips/plan': { feasible: false, reason, road: PLAN.road, polyline: [], candidates: 0 } });
  const vm = core.pages.trip.createTrip(ctx);
  await vm.plan();
  assert.equal(sent.length, 0);
  assert.equal(vm.state.errorCode, 'invalid_originLat');
  vm.setOrigin(31.2, 121.4);
  vm.setField('destLat', '30.2');
  vm.setField('destLng', '120.1');
  await vm.plan();
  assert.equal(vm.state.feasible, false);
  assert.equal(vm.state.reason, reason.message);
});
