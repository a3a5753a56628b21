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

  await type(comp, '.start', '00:00');
  await type(comp, '.end', '24:00');
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
