'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const f = require('../format');

test('yuan shows fen exactly', () => {
  assert.equal(f.yuan(1234), '¥12.34');
  assert.equal(f.yuan(5), '¥0.05');
  assert.equal(f.yuan(0), '¥0.00');
  assert.equal(f.yuan(-250), '-¥2.50');
  assert.equal(f.yuan(300000000), '¥3000000.00');
  assert.equal(f.yuan(null), '—');
});

test('every fen amount round-trips through yuan and parseYuan', () => {
  for (let fen = 0; fen < 100000; fen += 7) assert.equal(f.parseYuan(f.yuan(fen).slice(1)), fen);
});

test('parseYuan takes what a driver types and refuses the rest', () => {
  assert.equal(f.parseYuan('50'), 5000);
  assert.equal(f.parseYuan(' 12.3 '), 1230);
  assert.equal(f.parseYuan('0.07'), 7);
  for (const bad of ['', 'abc', '1.234', '-5', '1e3', '12.', '.5', null, '99999999']) assert.equal(f.parseYuan(bad), null, String(bad));
});

test('energy, power, price', () => {
  assert.equal(f.kwh(12345), '12.35 kWh');
  assert.equal(f.kwh(0), '0.00 kWh');
  assert.equal(f.kwh(4), '0.00 kWh');
  assert.equal(f.kwh(5), '0.01 kWh');
  assert.equal(f.kw(7400), '7.4 kW');
  assert.equal(f.kw(120000), '120 kW');
  assert.equal(f.pricePerKwh(12345), '¥1.2345/kWh');
  assert.equal(f.pricePerKwh(8000), '¥0.80/kWh');
  assert.equal(f.pricePerKwh(10000), '¥1.00/kWh');
});

test('durations in both languages', () => {
  assert.equal(f.duration(42, 'zh-CN'), '42秒');
  assert.equal(f.duration(600, 'zh-CN'), '10分钟');
  assert.equal(f.duration(3900, 'zh-CN'), '1小时05分');
  assert.equal(f.duration(3900, 'en'), '1 h 05 min');
  assert.equal(f.duration(59, 'en'), '59 s');
  assert.equal(f.duration(null), '—');
});

test('distances', () => {
  assert.equal(f.distance(850), '850 m');
  assert.equal(f.distance(1234), '1.2 km');
  assert.equal(f.distance(23456), '23 km');
});
