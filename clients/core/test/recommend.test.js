'use strict';
// The station finder's "recommended" view: GET /recommendations at the driver's position, each
// result with its reasons as the API worded them.
const test = require('node:test');
const assert = require('node:assert/strict');
const { context, core } = require('./helpers');

const P = core.pages;
const REC = { rank: 1, sid: 'S9', name: '谷电站', gun: 'P1-1', lat: 31.2, lng: 121.6, available: true, load_level: 'capped',
  distance_m: 2600, drive_s: 312, arrival_at: 0, wait_s: 0, start_at: 0, price_e4: 3500, period: 'valley',
  power_w: 60000, charge_s: 1800, score: 2000, terms: {},
  reasons: [{ key: 'capped', params: { pct: 50 }, effect: '!', text: '变压器繁忙：新启动的充电限功率 50%' },
    { key: 'price', params: {}, effect: '+', text: '到站电价 ¥0.35/度（谷）' },
    { key: 'far', params: {}, effect: '-', text: '距离较远：2.6 公里，驾车约 5 分钟' }] };
const BLOCKED = Object.assign({}, REC, { rank: 2, sid: 'S1', available: false, price_e4: null, power_w: null,
  reasons: [{ key: 'blocked', params: {}, effect: '!', text: '变压器负荷已满：暂不接受新的充电' }] });

test('recommended: asks at the position and shows each result with its reasons', async () => {
  const { ctx, sent } = context({ 'GET /stations': { stations: [] }, 'GET /recommendations': { recommendations: [REC, BLOCKED] } });
  const vm = P.stations.createStations(ctx);
  await vm.setCenter(31.2304, 121.4737);
  await vm.setView('recommended');
  const last = sent[sent.length - 1];
  assert.equal(last.path, '/recommendations');
  assert.deepEqual(last.query, { lat: '31.230400', lng: '121.473700' });
  const [a, b] = vm.state.recommended;
  assert.equal(a.name, '谷电站');
  assert.equal(a.price, '¥0.35/kWh');
  assert.equal(a.distance, '2.6 km');
  assert.deepEqual(a.reasons.map((x) => x.kind), ['note', 'pro', 'con']);
  assert.equal(a.reasons[0].text, '变压器繁忙：新启动的充电限功率 50%');
  assert.equal(b.available, false);
  assert.equal(b.unavailableText, '暂不可充');
  // a new position while on the view asks again; back to the list loads stations
  await vm.setCenter(31.3, 121.5);
  assert.equal(sent[sent.length - 1].path, '/recommendations');
  await vm.setView('list');
  assert.equal(sent[sent.length - 1].path, '/stations');
});

test('recommended: without a position it says so and sends nothing', async () => {
  const { ctx, sent } = context({});
  const vm = P.stations.createStations(ctx);
  await vm.setView('recommended');
  assert.equal(sent.length, 0);
  assert.equal(vm.state.recommendNeedsLocation, true);
});

test('recommended: an error shows the API message', async () => {
  const { ctx } = context({ 'GET /recommendations': { status: 400, data: { error: { code: 'invalid_request', message: '请求有误：纬度…' } } } });
  const vm = P.stations.createStations(ctx);
  vm.store.set({ center: { lat: 1, lng: 2 } });
  await vm.setView('recommended');
  assert.equal(vm.state.error, '请求有误：纬度…');
});
