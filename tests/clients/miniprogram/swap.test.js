'use strict';
// The mini-program's battery-swap pages (miniprogram/pages/swap, swapstation, swapbooking)
// and the swap station in the charging-station finder, against the running cloud (started and
// seeded by tests/clients/test_miniprogram_swap.py): one swap station with a booking fee the
// new driver's empty wallet cannot cover, one free to book.
const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const PAID = process.env.JC_SWAP_PAID;
const FREE = process.env.JC_SWAP_FREE;
const AT = { latitude: Number(process.env.JC_LAT), longitude: Number(process.env.JC_LNG) };

// the phone's consent dialog: records what was asked and accepts it; requests recorded too
const events = [];
global.wx.requestSubscribeMessage = (o) => {
  events.push('subscribe ' + o.tmplIds.join(','));
  const res = { errMsg: 'requestSubscribeMessage:ok' };
  o.tmplIds.forEach((id) => { res[id] = 'accept'; });
  setTimeout(() => o.success(res), 5);
};
const request = global.wx.request;
global.wx.request = (o) => { events.push((o.method || 'GET') + ' ' + o.url.replace(h.API, '').split('?')[0]); return request(o); };

/** The driver's allows left, as the cloud counts them (GET /message-templates). */
async function consents() {
  const r = await fetch(h.API + '/api/v1/driver/message-templates', { headers: { Authorization: 'Bearer ' + h.phone.storage.get('jc_token') } });
  return (await r.json()).consents;
}

async function until(check, what) {
  for (let i = 0; i < 100; i++) { if (check()) return; await h.simulate.sleep(50); }
  assert.fail('waited for ' + what);
}

test('swap: the charging-station finder marks the swap station and opens its swap page', async () => {
  await h.loggedIn('swapper-' + process.pid);
  h.phone.location = AT;
  const comp = h.page('stations');
  await comp.instance.onLoad({});
  assert.equal(comp.instance.vm.state.error, '');
  const card = comp.querySelectorAll('.swap-station').find((c) => c.dom.getAttribute('data-sid') === PAID
    || c.dom.textContent.includes(PAID));
  assert.ok(card, h.texts(comp, '.station .name').join(','));
  assert.ok(h.texts(comp, '.swap-station .badge').every((x) => x === '换电站'));
  assert.ok(comp.instance.vm.state.markers.some((m) => m.sid === PAID && m.kind === 'swap'));
  comp.instance.openStation(PAID);
  assert.deepEqual(h.phone.navigations.pop(), ['navigateTo', '/pages/swapstation/swapstation?sid=' + PAID]);
});

test('swap: the list of swap stations near the driver', async () => {
  const comp = h.page('swap');
  await comp.instance.onLoad({});
  assert.equal(comp.instance.vm.state.error, '');
  assert.equal(comp.querySelectorAll('.swap-station').length, 2);
  assert.deepEqual(h.texts(comp, '.bays'), ['空闲工位 2/2', '空闲工位 2/2']);
  comp.querySelector('.swap-station').dispatchEvent('tap');
  await h.simulate.sleep(0);
  assert.match(h.phone.navigations.pop()[1], /^\/pages\/swapstation\/swapstation\?sid=SW-MP-/);
});

test('swap: a station with a fee the wallet cannot cover refuses with the API message', async () => {
  const comp = h.page('swapstation');
  await comp.instance.onLoad({ sid: PAID });
  assert.equal(comp.instance.vm.state.error, '');
  assert.equal(h.text(comp, '.bays'), '空闲工位 2/2');
  assert.equal(h.text(comp, '.ready'), '现有满电 1 块');
  assert.match(h.text(comp, '.predicted'), /前可用 2 块$/);
  assert.equal(h.text(comp, '.fee'), '¥3.00');
  assert.equal(h.text(comp, '.balance'), '¥0.00');
  await comp.instance.book();
  await until(() => h.text(comp, '.error'), 'the refusal');
  assert.equal(h.text(comp, '.error'), '余额不足，请先充值。');
  assert.equal(comp.querySelector('.error').dom.getAttribute('data-code'), 'insufficient_balance');
});

test('swap: book a free slot, see it in my booking, cancel it, find it in the history', async () => {
  const comp = h.page('swapstation');
  await comp.instance.onLoad({ sid: FREE });
  assert.equal(h.text(comp, '.fee'), '免费');
  const open = comp.querySelectorAll('.slot').filter((c) => !c.dom.className.includes('closed'));
  assert.ok(open.length >= 2, h.texts(comp, '.slot').join(','));
  open[1].dispatchEvent('tap');
  await h.simulate.sleep(0);
  const chosen = comp.instance.vm.state.slotStart;
  assert.ok(open[1].dom.className.includes('on'));
  const allowed = (await consents()).reminder;
  events.length = 0;
  const b = await comp.instance.book();
  assert.ok(b, comp.instance.vm.state.error);
  // the reminder's consent asked in the tap before the booking request, the allow reported
  const asked = events.indexOf('subscribe ' + process.env.JC_REMINDER);
  const booked = events.findIndex((e) => e.startsWith('POST ') && e.includes('/swap'));
  assert.ok(asked >= 0 && booked > asked && events.includes('POST /api/v1/driver/message-consents'), JSON.stringify(events));
  assert.equal((await consents()).reminder, allowed + 1);
  assert.equal(b.slot_start, chosen);
  assert.deepEqual(h.phone.navigations.pop(), ['navigateTo', '/pages/swapbooking/swapbooking']);

  const mine = h.page('swapbooking');
  await mine.instance.onLoad({});
  assert.equal(mine.querySelector('.my-swap').dom.getAttribute('data-state'), 'booked');
  assert.equal(h.text(mine, '.my-swap .state'), '已预约');
  assert.equal(h.text(mine, '.my-swap .fee'), '免费');
  await mine.instance.cancel();
  await h.simulate.sleep(0);
  assert.equal(h.text(mine, '.my-swap .state'), '已取消');
  assert.equal(mine.querySelector('.cancel'), undefined);
  assert.deepEqual(h.texts(mine, '.history-row .state'), ['已取消']);
});

test('swap: my booking in English when none is live', async () => {
  h.phone.storage.set('jc_lang', 'en');
  const mine = h.page('swapbooking');
  await mine.instance.onLoad({});
  assert.equal(h.text(mine, '.none'), 'You have no swap booking.');
  assert.deepEqual(h.texts(mine, '.history-row .state'), ['Cancelled']);
  h.phone.storage.set('jc_lang', 'zh-CN');
});
