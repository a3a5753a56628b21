'use strict';
// The mini-program's messages page (pages/messages/index) and the reminder/notice consents
// against the running cloud (started and seeded by tests/clients/test_miniprogram_messages.py):
// opened with ?id= as a subscribe message opens it, that message is shown opened among the
// driver's notices, "more" reads older ones; the reserve tap asks wx.requestSubscribeMessage
// for the cloud's template ids before the reservation request and reports the allows to the
// cloud (the count is read back from the database by the Python side); "receive WeChat
// notifications" on the messages page does the same. Read state: the unread badge on Me's
// "my messages", a tapped message marked read, "mark all read"; the reminder lead time on
// Me, whose tap asks for the reminder template before saving (read back from the database).
// The reserve page shows the tariff's reservation fee and how it is made up before the tap.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const h = require('./harness');

const E = process.env;
const ROOT = path.resolve(__dirname, '..', '..', '..', 'miniprogram');
const notices = require(path.join(ROOT, 'notices.js'));
const events = [];
let answer = 'accept';

Object.assign(global.wx, {
  requestSubscribeMessage(o) {
    events.push('subscribe ' + o.tmplIds.join(','));
    const res = { errMsg: 'requestSubscribeMessage:ok' };
    o.tmplIds.forEach((id) => { res[id] = answer; });
    setTimeout(() => o.success(res), 5);
  },
  pageScrollTo(o) { events.push('scroll ' + o.selector); },
});
const request = global.wx.request;
global.wx.request = (o) => { events.push((o.method || 'GET') + ' ' + o.url.replace(h.API, '').split('?')[0]); return request(o); };

function messagesPage() {
  const id = h.simulate.load(path.join(ROOT, 'pages', 'messages', 'index'), { rootPath: ROOT });
  const comp = h.simulate.render(id);
  comp.attach(document.createElement('parent-wrapper'));
  return comp;
}

test('messages: opened with the id a subscribe message carries; more; in the driver language', async () => {
  await h.loggedIn('mp-messages');
  notices.forgetTemplates();
  const comp = messagesPage();
  await comp.instance.onLoad({ id: E.JC_OLD_MESSAGE });
  await h.simulate.sleep(0);
  // the opened one is older than the first page: read back until it is there
  const opened = comp.querySelectorAll('.message.open');
  assert.equal(opened.length, 1);
  assert.equal(opened[0].dom.getAttribute('data-id'), E.JC_OLD_MESSAGE);
  assert.equal(h.text(comp, '.message.open .message-title'), '通知1');
  assert.equal(h.text(comp, '.message.open .kind'), '系统通知');
  assert.ok(events.includes('scroll #m-' + E.JC_OLD_MESSAGE), JSON.stringify(events));
  assert.equal(h.texts(comp, '.message .message-title')[0], '通知22');
  assert.equal(comp.querySelectorAll('.message').length, 22);
  assert.ok(!comp.querySelector('.more'));
  // a plain open: the first page, then more
  const again = messagesPage();
  await again.instance.onLoad({});
  await h.simulate.sleep(0);
  assert.equal(again.querySelectorAll('.message').length, 20);
  assert.ok(!again.querySelector('.message.open'));
  await again.instance.more();
  await h.simulate.sleep(0);
  assert.equal(again.querySelectorAll('.message').length, 22);
  assert.deepEqual(h.texts(again, '.message .message-title').slice(-1), ['通知1']);
  // in English
  h.phone.storage.set('jc_lang', 'en');
  const en = messagesPage();
  await en.instance.onLoad({ id: E.JC_OLD_MESSAGE });
  await h.simulate.sleep(0);
  assert.equal(h.text(en, '.message.open .message-title'), 'Notice 1');
  assert.equal(h.text(en, '.message.open .kind'), 'Notice');
  h.phone.storage.set('jc_lang', 'zh-CN');
});

test('consent: the reserve tap asks for the reminder and notice templates, then reserves; the allows reported', async () => {
  await h.loggedIn('mp-messages');
  notices.forgetTemplates();
  const comp = h.page('reservation');
  await comp.instance.onLoad({ g: E.JC_GUN_CODE });
  await h.simulate.sleep(50);
  // the tariff's reservation fee and how it is made up, before the tap
  assert.equal(h.text(comp, '.reserve-form .fee'), '¥1.23');
  assert.equal(h.text(comp, '.fee-basis'), '按电价计：每次 ¥1.00 + 每分钟 ¥0.015，共 15 分钟，合计四舍五入到分');
  events.length = 0;
  answer = 'accept';
  const r = await comp.instance.reserve();
  comp.instance.onUnload(); // its countdown's timers stop with the page
  assert.ok(r && r.reservation_id, JSON.stringify(comp.instance.vm.state));
  const asked = events.indexOf('subscribe ' + E.JC_REMINDER + ',' + E.JC_NOTICE);
  const reported = events.indexOf('POST /api/v1/driver/message-consents');
  const reserved = events.indexOf('POST /api/v1/driver/reservations');
  assert.ok(asked >= 0 && reported > asked && reserved > asked, JSON.stringify(events));
});

test('consent: "receive WeChat notifications" on the messages page; a refusal reports nothing', async () => {
  await h.loggedIn('mp-messages');
  const comp = messagesPage();
  await comp.instance.onLoad({});
  await h.simulate.sleep(0);
  assert.equal(h.text(comp, '.consents'), '还可收到：预约提醒 1 条，系统通知 1 条');
  events.length = 0;
  answer = 'accept';
  await comp.instance.subscribe();
  await h.simulate.sleep(0);
  assert.ok(events.includes('POST /api/v1/driver/message-consents'), JSON.stringify(events));
  assert.equal(h.text(comp, '.consents'), '还可收到：预约提醒 2 条，系统通知 2 条');
  assert.equal(h.text(comp, '.notice'), '已允许 2 类微信通知。');
  events.length = 0;
  answer = 'reject';
  await comp.instance.subscribe();
  await h.simulate.sleep(0);
  assert.ok(!events.includes('POST /api/v1/driver/message-consents'), JSON.stringify(events));
  assert.equal(h.text(comp, '.notice'), '没有允许微信通知。');
});

test('read: the badge on Me, a tapped message read, all read; the lead time asks consent first', async () => {
  await h.loggedIn('mp-messages');
  notices.forgetTemplates();
  const me = h.page('settings');
  await me.instance.onShow();
  await h.simulate.sleep(0);
  // 22 notices, the one the first test opened is read
  assert.equal(h.text(me, '.my-messages-link .unread-badge'), '21');
  const comp = messagesPage();
  await comp.instance.onLoad({});
  await h.simulate.sleep(0);
  assert.equal(h.text(comp, '.unread-count'), '21 条未读');
  assert.equal(comp.querySelectorAll('.message.unread').length, 20);
  const newest = comp.querySelector('.message').dom.getAttribute('data-id');
  events.length = 0;
  await comp.instance.select({ currentTarget: { dataset: { id: Number(newest) } } });
  await h.simulate.sleep(0);
  assert.ok(events.includes('POST /api/v1/driver/messages/' + newest + '/read'), JSON.stringify(events));
  assert.equal(h.text(comp, '.unread-count'), '20 条未读');
  assert.ok(!comp.querySelector('#m-' + newest).dom.className.includes('unread'));
  await comp.instance.readAll();
  await h.simulate.sleep(0);
  assert.ok(!comp.querySelector('.unread-count'));
  assert.equal(comp.querySelectorAll('.message.unread').length, 0);
  assert.equal(h.text(comp, '.notice'), '已全部标为已读。');
  await me.instance.onShow();
  await h.simulate.sleep(0);
  assert.ok(!me.querySelector('.unread-badge'));

  // the lead time: the operator's choices; a tap on 30 asks WeChat for the reminder first
  assert.deepEqual(h.texts(me, '.remind'), ['不提醒', '提前 5 分钟', '提前 10 分钟（默认）', '提前 15 分钟', '提前 30 分钟']);
  events.length = 0;
  answer = 'accept';
  await me.instance.remind({ currentTarget: { dataset: { minutes: 30 } } });
  await h.simulate.sleep(0);
  const asked = events.indexOf('subscribe ' + E.JC_REMINDER);
  const saved = events.indexOf('PUT /api/v1/driver/message-settings');
  assert.ok(asked >= 0 && saved > asked, JSON.stringify(events));
  assert.equal(h.text(me, '.remind-now'), '当前：提前 30 分钟');
  assert.equal(h.text(me, '.remind.on'), '提前 30 分钟');
  assert.equal(h.text(me, '.remind-consents'), '还可通过微信推送 3 条预约提醒，其余只在“我的消息”中显示。');
  // off asks nothing
  events.length = 0;
  await me.instance.remind({ currentTarget: { dataset: { minutes: 0 } } });
  await h.simulate.sleep(0);
  assert.ok(!events.some((e) => e.startsWith('subscribe')), JSON.stringify(events));
  assert.equal(h.text(me, '.remind-now'), '当前：不提醒');
  await me.instance.remind({ currentTarget: { dataset: { minutes: 30 } } });
  await h.simulate.sleep(0);
  assert.equal(h.text(me, '.remind-now'), '当前：提前 30 分钟');
});
