'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { wgs84ToGcj02 } = require('../geo');

test('WGS-84 to GCJ-02: the known offset in Beijing, none outside China', () => {
  // Tiananmen: WGS-84 39.9087, 116.3975 lies about 0.0014 N, 0.0062 E off in GCJ-02
  const g = wgs84ToGcj02(39.9087, 116.3975);
  assert.ok(Math.abs(g.lat - 39.9087 - 0.00140) < 0.0002, String(g.lat));
  assert.ok(Math.abs(g.lng - 116.3975 - 0.00624) < 0.0002, String(g.lng));
  assert.deepEqual(wgs84ToGcj02(51.5, -0.12), { lat: 51.5, lng: -0.12 });
});
