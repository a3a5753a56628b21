'use strict';
// The community view models (clients/core/pages/community.js) over a scripted transport:
// reviews listed with stars and photo paths, a review written with uploaded photos (the
// requests on the wire as docs/api/cloud.openapi.yaml documents them), the API's refusal
// shown as sent; a broken-gun report with reason, text and photo, and the driver's reports
// with the operator's resolution.
const test = require('node:test');
const assert = require('node:assert/strict');
const { context, core } = require('./helpers');

const P = core.pages;
const NOW = 1767225600000;
const REVIEW = { review_id: 7, sid: 'S1', stars: 4, text: '快', photo_ids: ['p1'], created_at: NOW };

test('reviews: list, upload photos, write, refusal shown as the API sent it', async () => {
  let n = 0;
  const { ctx, sent } = context({
    'GET /stations/S1/reviews': { reviews: [REVIEW], count: 3, average_stars: 4.3 },
    'POST /photos': () => ({ status: 201, data: { photo_id: 'p' + (++n), mime: 'image/png', size: 10 } }),
    'POST /stations/S1/reviews': (req) => (req.body.order_id === 'o-bad'
      ? { status: 403, data: { error: { code: 'review_not_allowed', message: '只能评价您在本站已结算的充电订单。' } } }
      : { status: 201, data: Object.assign({}, REVIEW, { review_id: 8, photo_ids: req.body.photo_ids || [] }) }),
  });
  const vm = P.community.createReviews(ctx);
  await vm.load('S1');
  assert.equal(vm.state.count, 3);
  assert.equal(vm.state.average, '4.3');
  assert.equal(vm.state.items[0].stars, '★★★★☆');
  assert.deepEqual(vm.state.items[0].photos, ['/stations/S1/reviews/photos/p1']);
  for (let i = 0; i < 4; i += 1) await vm.addPhoto('aGVsbG8=');
  assert.deepEqual(vm.state.photoIds, ['p1', 'p2', 'p3']);
  assert.equal(vm.state.errorCode, 'too_many_photos');
  assert.equal(sent.filter((r) => r.path === '/photos').length, 3);
  assert.deepEqual(sent.find((r) => r.path === '/photos').body, { content_base64: 'aGVsbG8=' });
  await vm.write('o-bad', 5, '好');
  assert.equal(vm.state.errorCode, 'review_not_allowed');
  assert.equal(vm.state.error, '只能评价您在本站已结算的充电订单。');
  assert.deepEqual(vm.state.photoIds, ['p1', 'p2', 'p3']); // kept for another try
  await vm.write('o1', 5, '好');
  const posted = sent.filter((r) => r.method === 'POST' && r.path === '/stations/S1/reviews');
  assert.deepEqual(posted[1].body, { order_id: 'o1', stars: 5, text: '好', photo_ids: ['p1', 'p2', 'p3'] });
  assert.equal(vm.state.written.id, 8);
  assert.deepEqual(vm.state.photoIds, []);
  assert.equal(vm.state.error, '');
});

test('gun report: a reason is needed, then sent with text and photo; the resolution shown', async () => {
  const OPEN = { report_id: 'gr-1', sid: 'S1', gun: 'P1-1', reason: 'cable_damaged', text: '破皮', photo_id: 'p9',
    created_at: NOW, state: 'open', closed_at: null, resolution: null };
  const { ctx, sent } = context({
    'POST /photos': { status: 201, data: { photo_id: 'p9', mime: 'image/jpeg', size: 10 } },
    'POST /gun-reports': { status: 201, data: OPEN },
    'GET /gun-reports': { reports: [Object.assign({}, OPEN, { state: 'closed', closed_at: NOW + 1, resolution: '已更换' })] },
  });
  const vm = P.community.createGunReport(ctx);
  vm.open('S1-P1-1');
  assert.deepEqual(vm.state.reasons.map((r) => r.label), ['无法供电', '线缆损坏', '枪头损坏', '屏幕故障', '无法启动', '其他']);
  await vm.submit('x');
  assert.equal(vm.state.errorCode, 'no_reason');
  assert.equal(sent.length, 0);
  vm.choose('bored');
  assert.equal(vm.state.reason, '');
  vm.choose('cable_damaged');
  await vm.addPhoto('/9j/AA==');
  await vm.submit('破皮');
  assert.deepEqual(sent.find((r) => r.path === '/gun-reports').body,
    { gun_code: 'S1-P1-1', reason: 'cable_damaged', text: '破皮', photo_id: 'p9' });
  assert.equal(vm.state.sent.stateText, '处理中');
  await vm.loadMine();
  assert.deepEqual([vm.state.mine[0].closed, vm.state.mine[0].stateText, vm.state.mine[0].resolution],
    [true, '已处理', '已更换']);
});
