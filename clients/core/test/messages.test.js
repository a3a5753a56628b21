'use strict';
// The messages view model (clients/core/pages/messages.js) over a scripted transport: the
// first page and "more" with `before` as docs/api/cloud.openapi.yaml documents them, a
// message opened by its id (read further back when older than the first page, or not found),
// kinds in the driver's language, the consents shown after the mini-program asked; the read
// state (opening marks read, "mark all read" up to the newest shown, a failed mark changes
// nothing) and the settings' unread badge and reminder lead time.
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

// ids 5..1: 5, 4 and 2 unread; the cloud's count follows the marks
function unreadCloud() {
  const unread = new Set([5, 4, 2]);
  const all = [5, 4, 3, 2, 1];
  return {
    unread,
    routes: {
      'GET /messages': () => ({ messages: all.map((i) => Object.assign(msg(i, 'notice'), { unread: unread.has(i),
        read_at: unread.has(i) ? null : T })), next_before: null, unread: unread.size }),
      'POST /messages/4/read': () => { unread.delete(4); return { message: Object.assign(msg(4, 'notice'), { unread: false, read_at: T }), unread: unread.size }; },
      'POST /messages/2/read': { status: 503, data: { error: { code: 'internal', message: '出错了' } } },
      'POST /messages/read-all': (req) => {
        const marked = [...unread].filter((i) => i <= req.body.up_to);
        marked.forEach((i) => unread.delete(i));
        return { marked: marked.length, unread: unread.size };
      },
    },
  };
}

test('messages: unread marked; opening one marks it read; all read up to the newest shown', async () => {
  const cloud = unreadCloud();
  const { ctx, sent } = context(cloud.routes);
  const vm = P.messages.createMessages(ctx);
  await vm.open('4'); // what a subscribe message opens: shown opened and marked read
  assert.deepEqual(sent.map((r) => r.method + ' ' + r.path), ['GET /messages', 'POST /messages/4/read']);
  assert.equal(vm.state.unread, 2);
  assert.equal(vm.state.unreadText, '2 条未读');
  assert.deepEqual(vm.state.items.filter((m) => m.unread).map((m) => m.id), [5, 2]);
  assert.ok(vm.state.items.find((m) => m.id === 5).cls.includes('unread'));
  assert.ok(!vm.state.items.find((m) => m.id === 4).cls.includes('unread'));
  await vm.select(4); // closing it asks nothing
  await vm.select(3); // already read: nothing asked
  assert.equal(sent.length, 2);
  await vm.select(2); // the cloud fails: still unread, no error shown
  assert.equal(sent[2].path, '/messages/2/read');
  assert.equal(vm.state.items.find((m) => m.id === 2).unread, true);
  assert.equal(vm.state.error, '');
  assert.equal(vm.state.unread, 2);
  await vm.readAll();
  assert.deepEqual(sent[3].body, { up_to: 5 });
  assert.equal(vm.state.unread, 0);
  assert.equal(vm.state.unreadText, '');
  assert.equal(vm.state.items.some((m) => m.unread), false);
  assert.equal(vm.state.notice, '已全部标为已读。');
  ctx.setLang('en');
  cloud.unread.add(1);
  await vm.open('');
  assert.equal(vm.state.unreadText, '1 unread');
});

test('settings: the unread badge and the reminder lead time (off, the operator\'s choices, the default)', async () => {
  let chosen = null;
  const answer = () => ({ remind_minutes: chosen === null ? 10 : chosen, chosen, default: 10, choices: [0, 5, 10, 15, 30],
    consents: { reminder: 2, notice: 0 } });
  let unread = 120;
  const { ctx, sent } = context({
    'GET /messages/unread-count': () => ({ unread }),
    'GET /message-settings': answer,
    'PUT /message-settings': (req) => {
      if (req.body.remind_minutes === 20) return { status: 400, data: { error: { code: 'invalid_request', message: '请求有误' } } };
      chosen = req.body.remind_minutes;
      return answer();
    },
  });
  const vm = P.settings.createSettings(ctx);
  await vm.loadMessages();
  assert.equal(vm.state.badge, '99+');
  assert.deepEqual(vm.state.remindOptions.map((o) => o.label), ['不提醒', '提前 5 分钟', '提前 10 分钟（默认）', '提前 15 分钟', '提前 30 分钟']);
  assert.deepEqual(vm.state.remindOptions.filter((o) => o.on).map((o) => o.minutes), [10]);
  assert.equal(vm.state.remindText, '当前：提前 10 分钟（默认）');
  assert.equal(vm.state.remindConsentsText, '还可通过微信推送 2 条预约提醒，其余只在“我的消息”中显示。');
  await vm.setRemind(30);
  assert.deepEqual(sent[sent.length - 1].body, { remind_minutes: 30 });
  assert.equal(vm.state.remindOptions.find((o) => o.on).minutes, 30);
  assert.ok(vm.state.remindOptions.find((o) => o.minutes === 30).cls.includes('on'));
  assert.equal(vm.state.notice, '预约提醒已设为：提前 30 分钟');
  await vm.setRemind(20);
  assert.equal(vm.state.error, '请求有误');
  assert.equal(vm.state.remindOptions.find((o) => o.on).minutes, 30);
  await vm.setRemind(0);
  assert.equal(vm.state.remindText, '当前：不提醒');
  assert.equal(vm.state.remindConsentsText, ''); // no reminders: no allows to speak of
  vm.setConsents({ reminder: 3, notice: 1 });
  assert.equal(vm.state.remind.consents.reminder, 3);
  vm.setLang('en');
  assert.equal(vm.state.remindText, 'Now: Off');
  assert.equal(vm.state.remindOptions[2].label, '10 min before (default)');
  unread = 3;
  await vm.loadUnread();
  assert.equal(vm.state.badge, '3');
  unread = 0;
  await vm.loadUnread();
  assert.equal(vm.state.badge, '');
});
