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
  const { ctx, sent, storage } = context({
    'POST /photos': { status: 201, data: { photo_id: 'p9', mime: 'image/jpeg', size: 10 } },
    'POST /gun-reports': { status: 201, data: OPEN },
    'GET /gun-reports': { reports: [Object.assign({}, OPEN, { state: 'closed', closed_at: NOW + 1, resolution: '已更换' })] },
    'GET /guns/S1-P1-1': { station: { sid: 'S1', name: '科苑站' }, gun: { gun: 'P1-1', code: 'S1-P1-1', name: '1 号枪' } },
  });
  storage.set('jc_token', 'jcd_r');
  const vm = P.community.createGunReport(ctx);
  await vm.open('S1-P1-1');
  assert.equal(vm.state.gunText, '科苑站 · 1 号枪');
  assert.deepEqual(vm.state.reasons.map((r) => r.label), ['无法供电', '线缆损坏', '枪头损坏', '屏幕故障', '无法启动', '其他']);
  await vm.submit('x');
  assert.equal(vm.state.errorCode, 'no_reason');
  assert.equal(sent.filter((r) => r.path === '/gun-reports').length, 0);
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
  // its photo: the driver's own report's address, fetched with the token
  assert.deepEqual(vm.state.mine[0].photo, { id: 'p9', url: 'http://cloud.test/api/v1/driver/gun-reports/gr-1/photo',
    header: { Authorization: 'Bearer jcd_r' } });
});

const POSTS = [{ post_id: 11, sid: 'S1', parent_id: null, text: '晚上不用排队', created_at: NOW,
  replies: [{ post_id: 12, sid: 'S1', parent_id: 11, text: '同意', created_at: NOW + 1 }] }];

test('station community: reviews with photo requests, posts with replies; a review for the order', async () => {
  let reviews = [REVIEW];
  const { ctx, sent, storage } = context({
    'GET /stations/S1': { sid: 'S1', name: '科苑站', guns: [] },
    'GET /stations/S1/reviews': () => ({ reviews, count: reviews.length, average_stars: reviews.length ? 4 : null }),
    'GET /stations/S1/posts': { posts: POSTS },
    'POST /photos': { status: 201, data: { photo_id: 'ph1', mime: 'image/png', size: 40 } },
    'POST /stations/S1/reviews': (req) => {
      const r = Object.assign({}, REVIEW, { review_id: 9, stars: req.body.stars, text: req.body.text, photo_ids: req.body.photo_ids });
      reviews = [r].concat(reviews);
      return { status: 201, data: r };
    },
    'POST /stations/S1/posts': (req) => ({ status: 201, data: { post_id: 13, sid: 'S1', parent_id: req.body.parent_id || null,
      text: req.body.text, created_at: NOW } }),
  });
  storage.set('jc_token', 'jcd_x');
  const vm = P.community.createStationCommunity(ctx);
  await vm.open('S1', 'o-7');
  assert.equal(vm.state.stationName, '科苑站');
  assert.equal(vm.state.averageText, '平均 4.0 星 · 1 条评价');
  assert.deepEqual(vm.state.reviews[0].photos, [{ id: 'p1', url: 'http://cloud.test/api/v1/driver/stations/S1/reviews/photos/p1',
    header: { Authorization: 'Bearer jcd_x' } }]);
  assert.deepEqual(vm.state.posts, [{ id: 11, text: '晚上不用排队', time: vm.state.posts[0].time,
    replies: [{ id: 12, text: '同意', time: vm.state.posts[0].replies[0].time }] }]);
  // stars and words first, never sent without
  await vm.writeReview();
  assert.equal(vm.state.errorCode, 'stars_required');
  vm.setStars(5);
  await vm.writeReview();
  assert.equal(vm.state.errorCode, 'text_required');
  assert.equal(sent.filter((r) => r.method === 'POST').length, 0);
  await vm.addPhoto('iVBORw0KGgo=');
  assert.equal(vm.state.photosText, '已添加 1/3 张图片');
  vm.setText(' 充得快 ');
  await vm.writeReview();
  assert.deepEqual(sent.find((r) => r.method === 'POST' && r.path === '/stations/S1/reviews').body,
    { order_id: 'o-7', stars: 5, text: '充得快', photo_ids: ['ph1'] });
  assert.equal(vm.state.notice, '评价已发表。');
  assert.equal(vm.state.orderId, '');
  assert.equal(vm.state.reviews[0].text, '充得快');
  assert.equal(vm.state.reviews[0].photos[0].id, 'ph1');
  // a post, then a reply to the first post
  vm.setPostText('有人知道几点关门吗');
  await vm.writePost();
  vm.replyOn(11);
  vm.setReplyText('24 小时');
  await vm.reply();
  const posts = sent.filter((r) => r.method === 'POST' && r.path === '/stations/S1/posts').map((r) => r.body);
  assert.deepEqual(posts, [{ text: '有人知道几点关门吗' }, { text: '24 小时', parent_id: 11 }]);
  assert.equal(vm.state.replyTo, 0);
});

test('station community: older reviews and posts past the newest 50 with `before`', async () => {
  const reviews = Array.from({ length: 55 }, (_, i) => ({ review_id: 55 - i, sid: 'S1', stars: 4, text: 'r' + (55 - i),
    photo_ids: [], created_at: NOW }));
  const posts = Array.from({ length: 51 }, (_, i) => ({ post_id: 51 - i, sid: 'S1', parent_id: null, text: 'p' + (51 - i),
    created_at: NOW, replies: [] }));
  const page = (list, key, req) => {
    const before = req.query.before ? Number(req.query.before) : Infinity;
    return list.filter((x) => x[key] < before).slice(0, Number(req.query.limit));
  };
  const { ctx, sent } = context({
    'GET /stations/S1': { sid: 'S1', name: '科苑站', guns: [] },
    'GET /stations/S1/reviews': (req) => ({ reviews: page(reviews, 'review_id', req), count: 55, average_stars: 4 }),
    'GET /stations/S1/posts': (req) => ({ posts: page(posts, 'post_id', req) }),
  });
  const vm = P.community.createStationCommunity(ctx);
  await vm.open('S1');
  assert.equal(vm.state.reviews.length, 50);
  assert.equal(vm.state.posts.length, 50);
  assert.equal(vm.state.reviewsMore, true);
  assert.equal(vm.state.postsMore, true);
  await vm.moreReviews();
  assert.deepEqual(sent[sent.length - 1].query, { limit: '50', before: '6' });
  assert.deepEqual(vm.state.reviews.slice(48).map((r) => r.text), ['r7', 'r6', 'r5', 'r4', 'r3', 'r2', 'r1']);
  assert.equal(vm.state.reviewsMore, false);
  await vm.morePosts();
  assert.deepEqual(sent[sent.length - 1].query, { limit: '50', before: '2' });
  assert.equal(vm.state.posts.length, 51);
  assert.equal(vm.state.posts[50].text, 'p1');
  assert.equal(vm.state.postsMore, false);
  // loading again (as after a write) starts from the newest page
  await vm.load();
  assert.equal(vm.state.reviews.length, 50);
  assert.equal(vm.state.reviewsMore, true);
});

test("station community: a ban and a sensitive word refused with the server's words, in English too", async () => {
  const { ctx, storage } = context({
    'GET /stations/S1': { sid: 'S1', name: 'Keyuan', guns: [] },
    'GET /stations/S1/reviews': { reviews: [], count: 0, average_stars: null },
    'GET /stations/S1/posts': { posts: [] },
    'POST /stations/S1/posts': (req) => (req.body.text.includes('bad')
      ? { status: 422, data: { error: { code: 'sensitive_word', message: 'The text contains the blocked word "bad"; please change it.' } } }
      : { status: 403, data: { error: { code: 'community_banned', message: 'You are banned from posting; please contact support.' } } }),
  });
  storage.set('jc_lang', 'en');
  const vm = P.community.createStationCommunity(ctx);
  await vm.open('S1');
  assert.equal(vm.state.averageText, 'No reviews yet.');
  vm.setPostText('a bad word');
  await vm.writePost();
  assert.equal(vm.state.errorCode, 'sensitive_word');
  assert.equal(vm.state.error, 'The text contains the blocked word "bad"; please change it.');
  assert.equal(vm.state.postText, 'a bad word'); // kept to be changed
  assert.equal(vm.state.banned, false);
  vm.setPostText('fine');
  await vm.writePost();
  assert.equal(vm.state.errorCode, 'community_banned');
  assert.equal(vm.state.banned, true);
  assert.equal(ctx.t('community_banned_note'), 'You are banned from writing reviews and posts; reporting a broken gun still works.');
});

test('order: a settled order offers a review at its station', () => {
  const { ctx } = context({});
  const v = P.order.orderView(ctx, { order_id: 'o1', sid: 'S1', state: 'settled', lines: [], total_fen: 100 });
  assert.deepEqual([v.canReview, v.sid], [true, 'S1']);
  assert.equal(P.order.orderView(ctx, { order_id: 'o2', sid: 'S1', state: 'charging', lines: [] }).canReview, false);
});
