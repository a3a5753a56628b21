'use strict';
// The mini-program's "my pile" page confirming WeChat merchant transfers that wait for their
// payee, against the running cloud started by tests/clients/test_miniprogram_pile_confirm.py
// (its fake WeChat Pay holds every transfer in WAIT_USER_CONFIRM). wx.requestMerchantTransfer
// is the harness's stand-in for the payee's WeChat: it hands the parameters to the fake.
const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const OWNER = process.env.JC_OWNER;
const PARAMS = { mchId: process.env.JC_MCHID, appId: process.env.JC_APPID };

const sent = [];
const request = global.wx.request;
global.wx.request = (o) => {
  sent.push([o.method || 'GET', o.url.replace(h.API, '').split('?')[0]]);
  return request(o);
};

async function type(comp, selector, value) {
  comp.querySelector(selector).dispatchEvent('input', { detail: { value } });
  await h.simulate.sleep(0);
}

test('confirm: right after the withdrawal, WeChat\'s confirmation opens and the withdrawal is paid', async () => {
  await h.loggedIn(OWNER);
  const comp = h.page('pile');
  await comp.instance.onLoad({});
  assert.equal(h.text(comp, '.balance'), '¥12.36');
  await type(comp, '.amount', '10');
  const w = await comp.instance.withdraw();
  assert.ok(w, comp.instance.vm.state.error);
  // the payee's WeChat got the merchant, the mini-program's appid and the bill's package
  assert.equal(h.phone.transfers.length, 1);
  assert.deepEqual(h.phone.transfers[0], Object.assign({ package: h.phone.transfers[0].package }, PARAMS));
  assert.match(h.phone.transfers[0].package, /^fake-package-/);
  // then the withdrawal was asked again (the cloud queried WeChat Pay): paid
  const id = w.withdrawal_id;
  assert.ok(sent.some((r) => r[0] === 'GET' && r[1] === '/api/v1/driver/sharing/withdrawals/' + id));
  assert.equal(w.state, 'paid');
  await h.simulate.sleep(0);
  assert.equal(h.text(comp, '.error'), null);
  assert.equal(h.text(comp, '.notice'), null);
  assert.equal(h.text(comp, '.balance'), '¥2.36');
  assert.deepEqual(h.texts(comp, '.withdrawal .state'), ['已到账']);
  assert.equal(comp.querySelector('.confirm-transfer'), undefined);
});

test('confirm: left waiting, the withdrawal list offers the confirmation again', async () => {
  const comp = h.page('pile');
  await comp.instance.onLoad({});
  await type(comp, '.amount', '1');
  h.phone.transferAction = 'cancel'; // the payee closes WeChat's page without confirming
  const w = await comp.instance.withdraw();
  assert.equal(w.state, 'sending');
  await h.simulate.sleep(0);
  assert.equal(h.text(comp, '.notice'), '尚未确认收款，可在提现记录中再次确认。');
  assert.deepEqual(h.texts(comp, '.withdrawal .state'), ['待确认收款', '已到账']);
  assert.equal(h.text(comp, '.withdrawal .confirm-transfer'), '确认收款');
  assert.equal(h.text(comp, '.withdrawing'), '提现中 ¥1.00');

  // the page opened again: confirmed from the list
  h.phone.transferAction = null;
  const again = h.page('pile');
  await again.instance.onLoad({});
  const button = again.querySelector('.confirm-transfer');
  assert.ok(button);
  const paid = await again.instance.confirmTransfer({ currentTarget: { dataset: { id: button.dom.getAttribute('data-id') || w.withdrawal_id } } });
  assert.equal(paid.state, 'paid', again.instance.vm.state.error);
  assert.equal(h.phone.transfers.length, 3);
  assert.equal(h.phone.transfers[2].package, w.package_info);
  await h.simulate.sleep(0);
  assert.deepEqual(h.texts(again, '.withdrawal .state'), ['已到账', '已到账']);
  assert.equal(again.querySelector('.confirm-transfer'), undefined);
  assert.equal(h.text(again, '.balance'), '¥1.36');
});

test('confirm: in English, a transfer still waiting', async () => {
  h.phone.storage.set('jc_lang', 'en');
  const comp = h.page('pile');
  await comp.instance.onLoad({});
  await type(comp, '.amount', '0.36');
  h.phone.transferAction = 'cancel';
  await comp.instance.withdraw();
  await h.simulate.sleep(0);
  assert.equal(h.text(comp, '.notice'), 'Not confirmed yet: you can confirm it from the withdrawals list.');
  assert.equal(h.texts(comp, '.withdrawal .state')[0], 'Waiting for you to confirm');
  assert.equal(h.text(comp, '.withdrawal .confirm-transfer'), 'Confirm receipt');
  h.phone.transferAction = null;
  h.phone.storage.set('jc_lang', 'zh-CN');
});
