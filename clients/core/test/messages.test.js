'use strict';
// The messages view model (clients/core/pages/messages.js) over a scripted transport: the
// first page and "more" with `before` as docs/api/cloud.openapi.yaml documents them, a
// message opened by its id (read further back when older than the first page, or not found),
// kinds in the driver's language, the consents shown after the mini-program asked.
const test = require('node:test');
const assert = require('node:assert/strict');
const { context, core } = require('./helpers');

const P = core.pages;
const T = 1767225600000;

function msg(id, kind) {
  return { id, kind, title: '标题' + id, text: '内容' + id, created_at: T + id * 60000, sid: kind === 'reminder' ? 'S1' : null,
    at: kind === 'reminder' ? T + 3600000 : null, reservation_id: kind === 'reminder' ? 'r' + id : null, booking_id: null,
    notice_id: kind === 'notice' ? id : null, pushed: id % 2 === 0 };
}

// ids 45..1 newest first, pages of `limit` with keyset `before`
function pages(req) {
  const limit = Number(req.query.limit);
  const before = req.query.before ? Number(req.query.before) : 46;
  const ids = [];
  for (let i = before - 1; i >= 1 && ids.length < limit + 1; i -= 1) ids.push(i);
  const shown = ids.slice(0, limit);
  return { messages: shown.map((i) => msg(i, i % 3 ? 'notice' : 'reminder')),
    next_before: ids.length > limit ? shown[shown.length - 1] : null };
}

test('messages: first page, more with before, kinds and times in the driver language', async () => {
  const { ctx, sent } = context({ 'GET /messages': pages });
  const vm = P.messages.createMessages(ctx);
  await vm.open('');
  assert.equal(vm.state.items.length, 20);
  assert.deepEqual(sent[0].query, { limit: '20' });
  assert.equal(vm.state.items[0].id, 45);
  assert.equal(vm.state.items[0].kindText, '预约提醒');
  assert.equal(vm.state.items[1].kindText, '系统通知');
  assert.equal(vm.state.items[0].atText, '时间：' + core.format.dateTime(T + 3600000));
  assert.equal(vm.state.items[1].atText, '');
  assert.equal(vm.state.items[1].pushed, true);
  assert.ok(vm.state.hasMore);
  await vm.more();
  assert.deepEqual(sent[1].query, { limit: '20', before: '26' });
  assert.equal(vm.state.items.length, 40);
  await vm.more();
  assert.equal(vm.state.items.length, 45);
  assert.equal(vm.state.hasMore, false);
  assert.equal(vm.state.items[44].id, 1);
  await vm.more(); // nothing further to ask
  assert.equal(sent.length, 3);
  ctx.setLang('en');
  await vm.open('');
  assert.equal(vm.state.items[0].kindText, 'Reservation reminder');
  assert.equal(vm.state.items.length, 20);
});

test('messages: an id opens that message, read back page by page; unknown id found missing', async () => {
  const { ctx, sent } = context({ 'GET /messages': pages });
  const vm = P.messages.createMessages(ctx);
  await vm.open('30');
  assert.equal(sent.length, 1);
  assert.deepEqual(vm.state.items.filter((m) => m.open).map((m) => m.id), [30]);
  assert.ok(vm.state.items.find((m) => m.id === 30).cls.includes('open'));
  await vm.open('3');
  assert.equal(sent.length, 1 + 3);
  assert.equal(vm.state.items.find((m) => m.id === 3).open, true);
  assert.equal(vm.state.notFound, false);
  vm.select(3);
  assert.equal(vm.state.items.some((m) => m.open), false);
  vm.select(44);
  assert.equal(vm.state.items.find((m) => m.id === 44).open, true);
  await vm.open('999');
  assert.equal(vm.state.notFound, true);
  assert.equal(vm.state.items.length, 45);
});

test('messages: none, a refusal shown as sent, templates and consents', async () => {
  const { ctx } = context({
    'GET /messages': { status: 401, data: { error: { code: 'unauthorized', message: '请先登录。' } } },
    'GET /message-templates': { templates: { reminder: 'tmpl-r', notice: null }, consents: { reminder: 2, notice: 0 } },
  });
  const vm = P.messages.createMessages(ctx);
  await vm.open('');
  assert.equal(vm.state.error, '请先登录。');
  await vm.loadTemplates();
  assert.equal(vm.state.canSubscribe, true);
  assert.equal(vm.state.consentsText, '还可收到：预约提醒 2 条，系统通知 0 条');
  vm.subscribed({ asked: true, accepted: ['reminder'], consents: { reminder: 3, notice: 0 } });
  assert.equal(vm.state.consentsText, '还可收到：预约提醒 3 条，系统通知 0 条');
  assert.equal(vm.state.notice, '已允许 1 类微信通知。');
  vm.subscribed({ asked: false, accepted: [], consents: null });
  assert.equal(vm.state.notice, '本平台暂未开通微信通知。');
  const empty = P.messages.createMessages(context({ 'GET /messages': { messages: [], next_before: null } }).ctx);
  await empty.open('');
  assert.equal(empty.state.none, true);
  assert.equal(empty.state.hasMore, false);
});
