'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { context, core } = require('./helpers');

test('login keeps the token and sends it with the language on every call', async () => {
  const { ctx, sent, storage } = context({
    'POST /login': { status: 201, data: { token: 'jcd_abc', driver: { id: 7, nickname: null } } },
    'GET /me': { id: 7, nickname: '小王' },
  });
  assert.equal(ctx.api.loggedIn(), false);
  await ctx.api.login('wxcode');
  assert.equal(storage.get(core.api.TOKEN_KEY), 'jcd_abc');
  assert.deepEqual(sent[0].body, { code: 'wxcode' });
  assert.equal(sent[0].headers.Authorization, undefined);
  ctx.setLang('en');
  await ctx.api.me();
  assert.equal(sent[1].headers.Authorization, 'Bearer jcd_abc');
  assert.equal(sent[1].headers['Accept-Language'], 'en');
  assert.equal(ctx.api.driver().nickname, '小王');
});

test("an API error carries the API's code and message; 401 forgets the token", async () => {
  const { ctx, storage } = context({
    'GET /wallet': { status: 401, data: { error: { code: 'token_expired', message: '登录已过期，请重新登录。' } } },
  });
  storage.set(core.api.TOKEN_KEY, 'jcd_old');
  let loggedOut = 0;
  ctx.api.onLoggedOut(() => { loggedOut += 1; });
  await assert.rejects(ctx.api.wallet(), (e) => e.name === 'ApiError' && e.code === 'token_expired' && e.message === '登录已过期，请重新登录。' && e.status === 401);
  assert.equal(ctx.api.loggedIn(), false);
  assert.equal(loggedOut, 1);
});

test('no answer and a non-JSON 502 become messages in the driver language', async () => {
  const { ctx } = context({ 'GET /wallet': 'network', 'GET /me': { status: 502, data: null } });
  await assert.rejects(ctx.api.wallet(), (e) => e.code === 'network_error' && /网络异常/.test(e.message));
  ctx.setLang('en');
  await assert.rejects(ctx.api.me(), (e) => e.code === 'server_error' && /unavailable/.test(e.message));
});

test('query strings skip empty values and escape the rest', () => {
  assert.equal(core.api.query({ lat: '31.2', lng: '121.5', free: undefined, q: 'a b' }), '?lat=31.2&lng=121.5&q=a%20b');
  assert.equal(core.api.query({}), '');
});

test('the fetch and wx transports send the same request', async () => {
  const seen = [];
  const fetchImpl = (url, init) => { seen.push(['fetch', url, init.method, init.headers, init.body]); return Promise.resolve({ status: 200, text: () => Promise.resolve('{"ok":1}') }); };
  const wx = { request: (o) => { seen.push(['wx', o.url, o.method, o.header, o.data]); o.success({ statusCode: 200, data: '{"ok":1}' }); } };
  const req = { method: 'POST', url: 'http://c/api/v1/driver/login', headers: { A: '1' }, body: '{"code":"x"}' };
  assert.deepEqual(await core.api.fetchTransport(fetchImpl)(req), { status: 200, data: { ok: 1 } });
  assert.deepEqual(await core.api.wxTransport(wx)(req), { status: 200, data: { ok: 1 } });
  assert.deepEqual(seen[0].slice(1), seen[1].slice(1));
});

test('the progress poll sends the last ETag and answers a 304 with the last view, its clock run on', async () => {
  let t = 1767225600000;
  const view = { order_id: 'O1', state: 'charging', energy_wh: 1500, duration_s: 60 };
  const answers = [
    { status: 200, data: view, etag: 'W/"v1"' },
    { status: 304, data: null, etag: 'W/"v1"' },
    { status: 200, data: Object.assign({}, view, { energy_wh: 1600, duration_s: 75 }), etag: 'W/"v2"' },
    { status: 304, data: null },
  ];
  let n = 0;
  const { ctx, sent, storage } = context({ 'GET /orders/O1': () => answers[n++] }, { now: () => t });
  storage.set(core.api.TOKEN_KEY, 'jcd_abc');
  assert.deepEqual(await ctx.api.order('O1'), view);
  assert.equal(sent[0].headers['If-None-Match'], undefined);
  t += 12500;
  const same = await ctx.api.order('O1');
  assert.equal(sent[1].headers['If-None-Match'], 'W/"v1"');
  assert.deepEqual(same, Object.assign({}, view, { duration_s: 72 }));
  assert.equal(view.duration_s, 60); // the kept answer is not changed
  const next = await ctx.api.order('O1');
  assert.equal(sent[2].headers['If-None-Match'], 'W/"v1"');
  assert.equal(next.energy_wh, 1600);
  t += 5000;
  assert.equal((await ctx.api.order('O1')).duration_s, 80);
  assert.equal(sent[3].headers['If-None-Match'], 'W/"v2"');
  // logged out: nothing kept for the next driver on this phone
  ctx.api.forget();
  storage.set(core.api.TOKEN_KEY, 'jcd_other');
  answers.push({ status: 200, data: { order_id: 'O1', state: 'settled', duration_s: 90 }, etag: 'W/"v3"' });
  n = 4;
  await ctx.api.order('O1');
  assert.equal(sent[4].headers['If-None-Match'], undefined);
});

test('a settled order kept from a poll keeps its duration on a 304', async () => {
  const done = { order_id: 'O2', state: 'settled', duration_s: 605 };
  let n = 0;
  const { ctx } = context({ 'GET /orders/O2': () => [{ status: 200, data: done, etag: 'W/"s"' }, { status: 304, data: null }][n++] },
    { now: () => 1767225600000 + n * 60000 });
  assert.deepEqual(await ctx.api.order('O2'), done);
  assert.deepEqual(await ctx.api.order('O2'), done);
});

test('both transports hand over the ETag header (any case), and only when there is one', async () => {
  const headers = { get: (k) => (k.toLowerCase() === 'etag' ? 'W/"t1"' : null) };
  const fetchImpl = (url, init) => Promise.resolve({ status: init.headers['If-None-Match'] ? 304 : 200, headers,
    text: () => Promise.resolve(init.headers['If-None-Match'] ? '' : '{"ok":1}') });
  const wx = { request: (o) => o.success({ statusCode: o.header['If-None-Match'] ? 304 : 200, header: { Etag: 'W/"t1"' },
    data: o.header['If-None-Match'] ? '' : '{"ok":1}' }) };
  const req = { method: 'GET', url: 'http://c/api/v1/driver/orders/O1', headers: {} };
  const cond = { method: 'GET', url: 'http://c/api/v1/driver/orders/O1', headers: { 'If-None-Match': 'W/"t1"' } };
  for (const transport of [core.api.fetchTransport(fetchImpl), core.api.wxTransport(wx)]) {
    assert.deepEqual(await transport(req), { status: 200, data: { ok: 1 }, etag: 'W/"t1"' });
    assert.deepEqual(await transport(cond), { status: 304, data: null, etag: 'W/"t1"' });
  }
  const bare = core.api.wxTransport({ request: (o) => o.success({ statusCode: 200, data: '{}' }) });
  assert.deepEqual(await bare(req), { status: 200, data: {} });
});
