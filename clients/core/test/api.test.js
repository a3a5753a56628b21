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
