'use strict';
// The "my pile" view model (clients/core/pages/pile.js) over a scripted transport: pairing a
// gun with its code (a wrong code shown in the API's words), open hours, a flat price in
// yuan sent as the protocol's 1/10000 yuan, the switch, earnings per session to the fen and a
// withdrawal — each request checked on the wire.
const test = require('node:test');
const assert = require('node:assert/strict');
const { context, core } = require('./helpers');

const P = core.pages;
const NOW = 1767225600000;
const PILE = { pile_id: 7, sid: 'HOME', gun: 'P1-1', gun_code: 'HOME-P1-1', open: false, open_now: false,
  commission_bp: 1000, windows: [] };
const EARN = { balance_fen: 1236, withdrawing_fen: 0, debt_fen: 0, sessions: [{ order_id: 'o1', pile_id: 7, total_fen: 1373,
  owner_fen: 1236, platform_fen: 137, clawed_back_fen: 0, owner_net_fen: 1236, commission_bp: 1000, at: NOW }] };

test('my pile: pair, hours, price, open, earnings and a withdrawal', async () => {
  let piles = [];
  let pile = PILE;
  let earn = { balance_fen: 0, withdrawing_fen: 0, debt_fen: 0, sessions: [] };
  let ws = [];
  const { ctx, sent } = context({
    'GET /shared-piles': () => ({ piles }),
    'GET /sharing/earnings': () => earn,
    'GET /sharing/withdrawals': () => ({ withdrawals: ws }),
    'POST /shared-piles': (req) => (req.body.pairing_code === 'GOOD0CODE1'
      ? { status: 201, data: pile }
      : { status: 403, data: { error: { code: 'pairing_code_invalid', message: '配对码错误、已使用或已过期，请核对或联系运营方重新获取。' } } }),
    'PUT /shared-piles/7/windows': (req) => { pile = Object.assign({}, pile, { windows: [{ day: 'mon', start: req.body.windows[0].start, end: req.body.windows[0].end }] }); return pile; },
    'PUT /shared-piles/7/price': () => Object.assign({}, pile, { tariff_id: 'share-7-v1' }),
    'POST /shared-piles/7/open': (req) => { pile = Object.assign({}, pile, { open: req.body.open, open_now: req.body.open }); return pile; },
    'POST /sharing/withdrawals': (req) => {
      ws = [{ withdrawal_id: 1, amount_fen: req.body.amount_fen, state: 'paid', out_bill_no: 'W1', package_info: null,
        failure: null, created_at: NOW, updated_at: NOW }];
      earn = Object.assign({}, EARN, { balance_fen: EARN.balance_fen - req.body.amount_fen });
      return { status: 201, data: ws[0] };
    },
  });
  const vm = P.pile.createPile(ctx);
  await vm.load();
  assert.equal(vm.state.none, true);
  await vm.pair('HOME-P1-1', 'WRONG');
  assert.equal(vm.state.errorCode, 'pairing_code_invalid');
  assert.match(vm.state.error, /配对码错误/);
  await vm.pair(' HOME-P1-1 ', 'GOOD0CODE1');
  assert.deepEqual(sent.filter((r) => r.method === 'POST' && r.path === '/shared-piles').pop().body,
    { gun_code: 'HOME-P1-1', pairing_code: 'GOOD0CODE1' });
  assert.equal(vm.state.view.stateText, '已关闭');
  assert.equal(vm.state.view.commission, '平台抽成 10.00%');
  piles = [pile];

  await vm.setWindows([{ days: ['mon'], start: '08:00', end: '18:00' }]);
  assert.deepEqual(vm.state.view.windows, ['周一 08:00–18:00']);
  await vm.setFlatPrice('0.8', '0.2');
  assert.deepEqual(sent.find((r) => r.path === '/shared-piles/7/price').body,
    { periods: [{ start: '00:00', end: '24:00', name: 'flat', energy_price_e4: 8000, service_price_e4: 2000 }] });
  await vm.setOpen(true);
  assert.equal(vm.state.view.stateText, '开放中');
  assert.equal(vm.state.view.open, true);

  earn = EARN;
  await vm.load();
  assert.equal(vm.state.earnings.balance, '¥12.36');
  assert.deepEqual(vm.state.earnings.sessions.map((x) => [x.orderId, x.total, x.owner, x.platform]),
    [['o1', '¥13.73', '¥12.36', '¥1.37']]);
  await vm.withdraw('10.00');
  assert.deepEqual(sent.find((r) => r.path === '/sharing/withdrawals' && r.method === 'POST').body, { amount_fen: 1000 });
  assert.equal(vm.state.earnings.balance, '¥2.36');
  assert.deepEqual(vm.state.withdrawals.map((w) => [w.amount, w.stateText]), [['¥10.00', '已到账']]);
});
