'use strict';
// The mini-program's "my pile" page (miniprogram/pages/pile/pile) against the running cloud,
// started and seeded by tests/clients/test_miniprogram_pile.py with WeChat Pay's fake as the
// merchant: the owner already shares one pile that earned a visitor's session (¥12.36 of
// ¥13.73); a second gun is registered here by scanning its QR code with the pairing code an
// operator issued (a wrong code first), its hours and price set, opened; the payment password
// set on the settings page; a withdrawal asks for it, refuses a wrong one in the API's words
// and is paid with the right one; English too.
const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const OWNER = process.env.JC_OWNER;
const GUN2 = process.env.JC_GUN2;
const PAIRING = process.env.JC_PAIRING;
const PASSWORD = process.env.JC_PASSWORD;

// what the page sent, in order (method and path)
const sent = [];
const request = global.wx.request;
global.wx.request = (o) => {
  sent.push([o.method || 'GET', o.url.replace(h.API, '').split('?')[0], o.data ? JSON.parse(o.data) : null]);
  return request(o);
};

/** Type into the `i`-th input matching `selector`. */
async function typeAt(comp, selector, i, value) {
  comp.querySelectorAll(selector)[i].dispatchEvent('input', { detail: { value } });
  await h.simulate.sleep(0);
}

async function tapAt(comp, selector, i) {
  comp.querySelectorAll(selector)[i].dispatchEvent('tap');
  await h.simulate.sleep(0);
}

/** Type into an input as the phone does (the page hears it on the next turn). */
async function type(comp, selector, value) {
  comp.querySelector(selector).dispatchEvent('input', { detail: { value } });
  await h.simulate.sleep(0);
}

test('pile: reached from the settings page', async () => {
  await h.loggedIn(OWNER);
  const comp = h.page('settings');
  comp.instance.onLoad({});
  await comp.instance.onShow();
  assert.equal(h.text(comp, '.my-pile-link'), '我的私桩');
  comp.querySelector('.my-pile-link').dispatchEvent('tap');
  await h.simulate.sleep(0);
  assert.deepEqual(h.phone.navigations.pop(), ['navigateTo', '/pages/pile/pile']);
});

test('pile: the owner\'s pile and its earnings to the fen', async () => {
  const comp = h.page('pile');
  await comp.instance.onLoad({});
  assert.equal(comp.instance.vm.state.error, '');
  assert.equal(h.phone.titles.pop(), '我的私桩');
  assert.equal(comp.querySelector('.none'), undefined);
  assert.equal(comp.querySelectorAll('.pile-chip').length, 1);
  assert.equal(h.text(comp, '.pile .state'), '已关闭');
  assert.equal(h.text(comp, '.commission'), '平台抽成 10.00%');
  assert.equal(h.text(comp, '.balance'), '¥12.36');
  assert.deepEqual(h.texts(comp, '.session .total'), ['¥13.73']);
  assert.deepEqual(h.texts(comp, '.session .owner'), ['¥12.36']);
  assert.equal(h.text(comp, '.withdrawals .muted'), '还没有提现。');
});

test('pile: register a gun by its QR code and the pairing code, set hours and price, open it', async () => {
  const comp = h.page('pile');
  await comp.instance.onLoad({});
  // the camera read the gun's QR code: its link gives the gun code
  h.phone.scanResult = 'https://cloud.example.cn/app/scan?g=' + encodeURIComponent(GUN2);
  assert.equal(await comp.instance.scan(), GUN2);
  await h.simulate.sleep(0);
  assert.equal(comp.querySelector('.gun-code').dom.getAttribute('value') || comp.instance.vm.state.gunCode, GUN2);
  await type(comp, '.pairing-code', 'WRONG0CODE');
  await comp.instance.pair();
  await h.simulate.sleep(0);
  assert.equal(comp.querySelector('.error').dom.getAttribute('data-code'), 'pairing_code_invalid');
  assert.match(h.text(comp, '.error'), /配对码错误/);
  await type(comp, '.pairing-code', PAIRING.slice(0, 5).toLowerCase() + '-' + PAIRING.slice(5));
  const p = await comp.instance.pair();
  assert.ok(p, comp.instance.vm.state.error);
  await h.simulate.sleep(0);
  assert.equal(h.text(comp, '.error'), null);
  assert.equal(comp.querySelectorAll('.pile-chip').length, 2);
  assert.ok(comp.querySelectorAll('.pile-chip')[1].dom.className.includes('on'));
  assert.ok(h.text(comp, '.pile .title').startsWith(GUN2));
  assert.equal(h.text(comp, '.pile .state'), '已关闭');

  // a new pile's hours start as one span every day
  assert.equal(comp.querySelectorAll('.span').length, 1);
  assert.equal(comp.querySelectorAll('.span-day.on').length, 7);
  await type(comp, '.span-start', '00:00');
  await type(comp, '.span-end', '24:00');
  await comp.instance.saveHours();
  await h.simulate.sleep(0);
  assert.equal(comp.querySelectorAll('.window').length, 7);
  assert.equal(h.texts(comp, '.window')[0], '周一 00:00–24:00');
  await type(comp, '.energy', '0.8');
  await type(comp, '.service', '0.25');
  await comp.instance.savePrice();
  assert.equal(comp.instance.vm.state.error, '');
  const price = sent.filter((r) => r[0] === 'PUT' && r[1].endsWith('/price')).pop();
  assert.deepEqual(price[2].periods, [{ start: '00:00', end: '24:00', name: 'flat', energy_price_e4: 8000, service_price_e4: 2500 }]);
  await comp.instance.toggle();
  await h.simulate.sleep(0);
  assert.equal(comp.querySelector('.pile').dom.getAttribute('data-open'), 'yes');
  assert.equal(h.text(comp, '.pile .state'), '开放中');
  assert.equal(h.text(comp, '.switch'), '暂停共享');
  // the first pile again: still closed
  comp.querySelectorAll('.pile-chip')[0].dispatchEvent('tap');
  await h.simulate.sleep(0);
  assert.equal(h.text(comp, '.pile .state'), '已关闭');
});

test('pile: the station list\'s "shared, open now" filter shows the pile just opened', async () => {
  h.phone.location = null; // all stations by name
  const comp = h.page('stations');
  await comp.instance.onLoad({});
  assert.deepEqual(h.texts(comp, '.station .name'), ['我家的桩', '车库的桩']);
  assert.equal(h.text(comp, '.shared-only'), '共享私桩·开放中');
  await comp.instance.toggleShared();
  await h.simulate.sleep(0);
  assert.ok(comp.querySelector('.shared-only').dom.className.includes('on'));
  assert.equal(sent.filter((r) => r[1] === '/api/v1/driver/stations').length, 2);
  // the garage's pile is open every day, all day; the home one is closed
  assert.deepEqual(h.texts(comp, '.station .name'), ['车库的桩']);
  await comp.instance.toggleShared();
  await h.simulate.sleep(0);
  assert.equal(h.texts(comp, '.station .name').length, 2);
});

test('pile: several open-hour spans of weekdays and a price by period', async () => {
  const comp = h.page('pile');
  await comp.instance.onLoad({});
  await tapAt(comp, '.pile-chip', 1);
  assert.ok(h.text(comp, '.pile .title').startsWith(GUN2));
  // its hours every day, as set above: one span
  assert.equal(comp.querySelectorAll('.span').length, 1);
  // weekdays 08:00–12:00 and 18:00–22:00, the weekend 10:00–20:00 (seven day chips a span)
  await typeAt(comp, '.span-start', 0, '08:00');
  await typeAt(comp, '.span-end', 0, '12:00');
  await tapAt(comp, '.span-day', 5);
  await tapAt(comp, '.span-day', 6);
  await tapAt(comp, '.span-add', 0);
  await tapAt(comp, '.span-add', 0);
  assert.equal(comp.querySelectorAll('.span').length, 3);
  // a span without a day is refused before anything is sent
  const before = sent.length;
  await comp.instance.saveHours();
  await h.simulate.sleep(0);
  assert.equal(comp.querySelector('.error').dom.getAttribute('data-code'), 'pile_span_no_days');
  assert.equal(sent.length, before);
  for (const d of [0, 1, 2, 3, 4]) await tapAt(comp, '.span-day', 7 + d);
  await typeAt(comp, '.span-start', 1, '18:00');
  await typeAt(comp, '.span-end', 1, '22:00');
  await tapAt(comp, '.span-day', 14 + 5);
  await tapAt(comp, '.span-day', 14 + 6);
  await typeAt(comp, '.span-start', 2, '10:00');
  await typeAt(comp, '.span-end', 2, '20:00');
  await comp.instance.saveHours();
  await h.simulate.sleep(0);
  assert.equal(h.text(comp, '.error'), null);
  const weekdays = ['mon', 'tue', 'wed', 'thu', 'fri'];
  assert.deepEqual(sent.filter((r) => r[0] === 'PUT' && r[1].endsWith('/windows')).pop()[2], { windows: [
    { days: weekdays, start: '08:00', end: '12:00' }, { days: weekdays, start: '18:00', end: '22:00' },
    { days: ['sat', 'sun'], start: '10:00', end: '20:00' }] });
  assert.equal(comp.querySelectorAll('.window').length, 12);
  assert.ok(h.texts(comp, '.window').includes('周六 10:00–20:00'));

  // a valley night and a peak day
  await tapAt(comp, '.price-mode', 1);
  assert.equal(comp.querySelector('.energy'), undefined);
  await typeAt(comp, '.period-end', 0, '08:00');
  await tapAt(comp, '.period-kind', 3);
  await typeAt(comp, '.period-energy', 0, '0.3');
  await typeAt(comp, '.period-service', 0, '0.1');
  await tapAt(comp, '.period-add', 0);
  assert.equal(comp.querySelectorAll('.period-start')[1].dom.getAttribute('value') || comp.instance.vm.state.periods[1].start, '08:00');
  await tapAt(comp, '.period-kind', 4 + 1);
  assert.deepEqual(h.texts(comp, '.period-kind.on'), ['谷', '峰']);
  await typeAt(comp, '.period-energy', 1, '1.2');
  await typeAt(comp, '.period-service', 1, '0.35');
  await comp.instance.savePrice();
  await h.simulate.sleep(0);
  assert.equal(h.text(comp, '.error'), null);
  assert.deepEqual(sent.filter((r) => r[0] === 'PUT' && r[1].endsWith('/price')).pop()[2].periods, [
    { start: '00:00', end: '08:00', name: 'valley', energy_price_e4: 3000, service_price_e4: 1000 },
    { start: '08:00', end: '24:00', name: 'peak', energy_price_e4: 12000, service_price_e4: 3500 }]);
});

test('pile: a withdrawal asks for the payment password, refuses a wrong one, is paid with the right one', async () => {
  // the password set where drivers set it: the settings page
  const settings = h.page('settings');
  settings.instance.onLoad({});
  await settings.instance.onShow();
  await type(settings, '.new-password', PASSWORD);
  await settings.instance.savePassword();
  assert.equal(settings.instance.vm.state.error, '');

  const comp = h.page('pile');
  await comp.instance.onLoad({});
  await type(comp, '.amount', '10');
  const before = sent.length;
  assert.equal(await comp.instance.withdraw(), undefined);
  await h.simulate.sleep(0);
  // asked before anything is sent
  assert.ok(comp.querySelector('.ask-password'));
  assert.equal(h.text(comp, '.password-prompt'), '请输入 6 位支付密码以提现');
  assert.equal(sent.slice(before).filter((r) => r[0] === 'POST').length, 0);
  await type(comp, '.password', '000000');
  assert.equal(await comp.instance.withdraw(), undefined);
  await h.simulate.sleep(0);
  assert.deepEqual(sent.filter((r) => r[0] === 'POST').pop(), ['POST', '/api/v1/driver/sharing/withdrawals',
    { amount_fen: 1000, payment_password: '000000' }]);
  assert.equal(comp.querySelector('.error').dom.getAttribute('data-code'), 'payment_password_wrong');
  assert.match(h.text(comp, '.error'), /^支付密码错误，还可尝试 \d 次。$/);
  assert.equal(comp.instance.vm.state.password, '');
  assert.equal(h.text(comp, '.balance'), '¥12.36');
  await type(comp, '.password', PASSWORD);
  const w = await comp.instance.withdraw();
  assert.ok(w, comp.instance.vm.state.error);
  assert.equal(w.state, 'paid');
  await h.simulate.sleep(0);
  assert.equal(h.text(comp, '.error'), null);
  assert.equal(comp.querySelector('.ask-password'), undefined);
  assert.equal(h.text(comp, '.balance'), '¥2.36');
  assert.deepEqual(h.texts(comp, '.withdrawal .amount'), ['¥10.00']);
  assert.deepEqual(h.texts(comp, '.withdrawal .state'), ['已到账']);
});

test('pile: my pile in English', async () => {
  h.phone.storage.set('jc_lang', 'en');
  const comp = h.page('pile');
  await comp.instance.onLoad({});
  assert.equal(h.phone.titles.pop(), 'My pile');
  assert.equal(h.text(comp, '.pile .state'), 'Closed');
  assert.equal(h.text(comp, '.commission'), 'Platform commission 10.00%');
  assert.deepEqual(h.texts(comp, '.withdrawal .state'), ['Paid']);
  assert.equal(h.text(comp, '.withdraw'), 'Withdraw');
  // the API's words follow the language: a password asked for again, and a wrong one refused
  await type(comp, '.amount', '1');
  await comp.instance.withdraw();
  await type(comp, '.password', '000000');
  await comp.instance.withdraw();
  await h.simulate.sleep(0);
  assert.match(h.text(comp, '.error'), /payment password/i);
  h.phone.storage.set('jc_lang', 'zh-CN');
});
