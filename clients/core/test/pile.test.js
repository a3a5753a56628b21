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
    'GET /me': { id: 1, has_payment_password: false },
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

test('my pile: the QR code as the gun code, the form\'s fields, a second pile chosen', async () => {
  const other = Object.assign({}, PILE, { pile_id: 8, gun_code: 'PARK-P1-2', sid: 'PARK', open: true, open_now: true });
  const { ctx, sent } = context({
    'GET /me': { id: 1, has_payment_password: false },
    'GET /shared-piles': { piles: [PILE, other] },
    'GET /sharing/earnings': EARN,
    'GET /sharing/withdrawals': { withdrawals: [] },
    'POST /shared-piles': { status: 201, data: PILE },
    'PUT /shared-piles/8/windows': (req) => Object.assign({}, other, { windows: [{ day: 'mon', start: req.body.windows[0].start, end: req.body.windows[0].end }] }),
    'PUT /shared-piles/8/price': () => other,
  });
  const vm = P.pile.createPile(ctx);
  await vm.load();
  assert.deepEqual(vm.state.list.map((x) => [x.id, x.on]), [[7, true], [8, false]]);
  vm.select('8');
  assert.equal(vm.state.view.id, 8);
  assert.deepEqual(vm.state.list.map((x) => x.on), [false, true]);
  assert.equal(vm.scanned('https://cloud.test/app/scan?g=HOME-P1-1'), 'HOME-P1-1');
  assert.equal(vm.state.gunCode, 'HOME-P1-1');
  assert.equal(vm.scanned(''), '');
  assert.equal(vm.state.errorCode, 'gun_code');
  vm.setField('pairingCode', 'GOOD0CODE1');
  await vm.pair();
  assert.deepEqual(sent.filter((r) => r.path === '/shared-piles' && r.method === 'POST').pop().body,
    { gun_code: 'HOME-P1-1', pairing_code: 'GOOD0CODE1' });
  assert.equal(vm.state.pairingCode, '');
  vm.select(8);
  vm.setField('start', '09:00');
  vm.setField('end', '18:00');
  await vm.saveHours();
  assert.deepEqual(sent.find((r) => r.path === '/shared-piles/8/windows').body,
    { windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '09:00', end: '18:00' }] });
  vm.setField('energy', '1.2');
  vm.setField('service', '0.35');
  await vm.setFlatPrice();
  assert.deepEqual(sent.find((r) => r.path === '/shared-piles/8/price').body.periods[0],
    { start: '00:00', end: '24:00', name: 'flat', energy_price_e4: 12000, service_price_e4: 3500 });
  // a second load keeps the chosen pile
  await vm.load();
  assert.equal(vm.state.view.id, 8);
});

test('my pile: a withdrawal asks for the payment password the owner set', async () => {
  let hasPassword = true;
  let earn = EARN;
  let ws = [];
  const PW_WRONG = { status: 403, data: { error: { code: 'payment_password_wrong', message: '支付密码错误，还可尝试 4 次。', attempts_left: 4 } } };
  const { ctx, sent } = context({
    'GET /me': () => ({ id: 1, has_payment_password: hasPassword }),
    'GET /shared-piles': { piles: [PILE] },
    'GET /sharing/earnings': () => earn,
    'GET /sharing/withdrawals': () => ({ withdrawals: ws }),
    'POST /sharing/withdrawals': (req) => {
      if (!req.body.payment_password) {
        return { status: 403, data: { error: { code: 'payment_password_required', message: '请输入支付密码。' } } };
      }
      if (req.body.payment_password !== '135790') return PW_WRONG;
      ws = [{ withdrawal_id: 2, amount_fen: req.body.amount_fen, state: 'paid', out_bill_no: 'W2', package_info: null,
        failure: null, created_at: NOW, updated_at: NOW }];
      earn = Object.assign({}, EARN, { balance_fen: EARN.balance_fen - req.body.amount_fen });
      return { status: 201, data: ws[0] };
    },
  });
  const posts = () => sent.filter((r) => r.method === 'POST' && r.path === '/sharing/withdrawals');
  const vm = P.pile.createPile(ctx);
  await vm.load();
  assert.equal(vm.state.passwordSet, true);
  vm.setField('amount', 'abc');
  assert.equal(await vm.withdraw(), undefined);
  assert.equal(vm.state.errorCode, 'invalid_amount');
  // set: asked for before anything is sent
  vm.setField('amount', '5');
  assert.equal(await vm.withdraw(), undefined);
  assert.equal(vm.state.askPassword, true);
  assert.equal(posts().length, 0);
  // wrong: the API's words, the field cleared to type again
  vm.setField('password', '111112');
  assert.equal(await vm.withdraw(), undefined);
  assert.deepEqual(posts().pop().body, { amount_fen: 500, payment_password: '111112' });
  assert.equal(vm.state.error, '支付密码错误，还可尝试 4 次。');
  assert.equal(vm.state.password, '');
  assert.equal(vm.state.askPassword, true);
  vm.setField('password', '135790');
  const w = await vm.withdraw();
  assert.equal(w.state, 'paid');
  assert.deepEqual(posts().pop().body, { amount_fen: 500, payment_password: '135790' });
  assert.equal(vm.state.askPassword, false);
  assert.equal(vm.state.password, '');
  assert.equal(vm.state.earnings.balance, '¥7.36');
  assert.deepEqual(vm.state.withdrawals.map((x) => [x.amount, x.stateText]), [['¥5.00', '已到账']]);

  // set meanwhile (the page read none): the API's refusal asks for it
  hasPassword = false;
  await vm.load();
  assert.equal(vm.state.passwordSet, false);
  assert.equal(await vm.withdraw('1'), undefined);
  assert.deepEqual(posts().pop().body, { amount_fen: 100 });
  assert.equal(vm.state.errorCode, 'payment_password_required');
  assert.equal(vm.state.askPassword, true);
  assert.equal(vm.state.passwordSet, true);
});

test('my pile: a transfer waiting for the payee gives WeChat\'s confirmation parameters, then is asked again', async () => {
  const PARAMS = { mchId: '1900000109', appId: 'wxmini', package: 'pkg-1' };
  const waiting = { withdrawal_id: 3, amount_fen: 500, state: 'sending', out_bill_no: 'W3', package_info: 'pkg-1',
    confirm_params: PARAMS, failure: null, created_at: NOW, updated_at: NOW };
  let ws = [waiting];
  let earn = Object.assign({}, EARN, { balance_fen: 736, withdrawing_fen: 500 });
  const { ctx, sent } = context({
    'GET /me': { id: 1, has_payment_password: false },
    'GET /shared-piles': { piles: [PILE] },
    'GET /sharing/earnings': () => earn,
    'GET /sharing/withdrawals': () => ({ withdrawals: ws }),
    'GET /sharing/withdrawals/3': () => ws[0],
  });
  const vm = P.pile.createPile(ctx);
  await vm.load();
  assert.deepEqual(vm.state.withdrawals.map((w) => [w.stateText, w.waiting]), [['待确认收款', true]]);
  const params = vm.confirmParams(3);
  assert.deepEqual(params, PARAMS);
  params.success = () => {};
  assert.deepEqual(vm.confirmParams(3), PARAMS, 'a copy: the page\'s callbacks stay out of the state');
  assert.equal(vm.confirmParams(9), null);

  // closed without confirming: still waiting, the driver told how to come back to it
  await vm.confirmed(3, false, 'cancel');
  assert.equal(sent.filter((r) => r.path === '/sharing/withdrawals/3').length, 1);
  assert.equal(vm.state.notice, '尚未确认收款，可在提现记录中再次确认。');
  await vm.confirmed(3, false, 'unsupported');
  assert.equal(vm.state.notice, '你的微信版本过低，请更新至最新版本后确认收款。');
  assert.equal(sent.filter((r) => r.path === '/sharing/withdrawals/3').length, 1);

  // confirmed but WeChat not done yet, then paid
  await vm.confirmed(3, true);
  assert.equal(vm.state.notice, '已确认收款，等待微信转账结果。');
  ws = [Object.assign({}, waiting, { state: 'paid', package_info: null, confirm_params: null })];
  earn = Object.assign({}, EARN, { balance_fen: 736 });
  const w = await vm.confirmed(3, true);
  assert.equal(w.state, 'paid');
  assert.equal(vm.state.notice, '');
  assert.deepEqual(vm.state.withdrawals.map((x) => [x.stateText, x.waiting, x.confirm]), [['已到账', false, null]]);
  assert.equal(vm.state.earnings.balance, '¥7.36');

  // a waiting transfer without parameters (no merchant to name) is shown as waiting, nothing to confirm with
  ws = [Object.assign({}, waiting, { confirm_params: null })];
  await vm.load();
  assert.equal(vm.state.withdrawals[0].waiting, true);
  assert.equal(vm.confirmParams(3), null);
});

test('my pile: several spans of weekdays and a price by period', async () => {
  const WINDOWS = [{ day: 'mon', start: '08:00', end: '12:00' }, { day: 'mon', start: '18:00', end: '22:00' },
    { day: 'tue', start: '08:00', end: '12:00' }, { day: 'sat', start: '00:00', end: '24:00' }];
  let pile = Object.assign({}, PILE, { windows: WINDOWS });
  const { ctx, sent } = context({
    'GET /me': { id: 1, has_payment_password: false },
    'GET /shared-piles': () => ({ piles: [pile] }),
    'GET /sharing/earnings': EARN,
    'GET /sharing/withdrawals': { withdrawals: [] },
    'PUT /shared-piles/7/windows': (req) => {
      pile = Object.assign({}, pile, { windows: [].concat(...req.body.windows.map((w) => w.days.map((d) => ({ day: d, start: w.start, end: w.end })))) });
      return pile;
    },
    'PUT /shared-piles/7/price': (req) => (req.body.periods.length === 1 && req.body.periods[0].end !== '24:00'
      ? { status: 400, data: { error: { code: 'invalid_tariff', message: '价格时段须覆盖全天 00:00–24:00。' } } }
      : Object.assign({}, pile, { tariff_id: 'share-7-v2' })),
  });
  const vm = P.pile.createPile(ctx);
  await vm.load();
  // the API's per-day windows grouped into spans: same hours together
  const on = (sp) => sp.days.filter((d) => d.on).map((d) => d.day);
  assert.deepEqual(vm.state.spans.map((sp) => [on(sp), sp.start, sp.end]),
    [[['mon', 'tue'], '08:00', '12:00'], [['mon'], '18:00', '22:00'], [['sat'], '00:00', '24:00']]);
  assert.equal(vm.state.spans[0].days[0].text, '周一');

  vm.removeSpan(2);
  vm.addSpan();
  assert.deepEqual(on(vm.state.spans[2]), []);
  assert.equal(await vm.saveSpans(), undefined);
  assert.equal(vm.state.errorCode, 'pile_span_no_days');
  assert.equal(sent.filter((r) => r.method === 'PUT').length, 0);
  vm.toggleDay(2, 'sat');
  vm.toggleDay(2, 'sun');
  vm.toggleDay(1, 'fri');
  vm.setSpan(2, 'start', '10:00');
  vm.setSpan(2, 'end', '20:00');
  await vm.saveSpans();
  assert.equal(vm.state.error, '');
  assert.deepEqual(sent.filter((r) => r.method === 'PUT').pop().body, { windows: [
    { days: ['mon', 'tue'], start: '08:00', end: '12:00' }, { days: ['mon', 'fri'], start: '18:00', end: '22:00' },
    { days: ['sat', 'sun'], start: '10:00', end: '20:00' }] });
  assert.deepEqual(vm.state.view.windows.slice().sort(), ['周一 08:00–12:00', '周一 18:00–22:00', '周二 08:00–12:00',
    '周五 18:00–22:00', '周六 10:00–20:00', '周日 10:00–20:00'].sort());

  // price by period: a valley night and a peak day
  vm.setPriceMode('periods');
  assert.equal(vm.state.priceMode, 'periods');
  assert.deepEqual(vm.state.periods.map((x) => [x.start, x.end, x.name]), [['00:00', '24:00', 'flat']]);
  vm.setPeriod(0, 'end', '08:00');
  vm.setPeriod(0, 'name', 'valley');
  vm.setPeriod(0, 'name', 'cheap'); // not a kind: ignored
  vm.setPeriod(0, 'energy', '0.3');
  vm.setPeriod(0, 'service', '0.1');
  // one period that leaves the day uncovered: the API's words
  await vm.savePrice();
  assert.equal(vm.state.errorCode, 'invalid_tariff');
  assert.match(vm.state.error, /覆盖全天/);
  vm.addPeriod();
  assert.deepEqual(vm.state.periods.map((x) => [x.start, x.end, x.name]), [['00:00', '08:00', 'valley'], ['08:00', '24:00', 'tip']]);
  vm.setPeriod(1, 'name', 'peak');
  assert.deepEqual(vm.state.periods[1].kinds.filter((k) => k.on).map((k) => k.text), ['峰']);
  vm.setPeriod(1, 'energy', '1.0');
  vm.setPeriod(1, 'service', 'x');
  assert.equal(await vm.savePrice(), undefined);
  assert.equal(vm.state.errorCode, 'pile_price_invalid');
  vm.setPeriod(1, 'service', '0.3456');
  await vm.savePrice();
  assert.equal(vm.state.error, '');
  assert.deepEqual(sent.filter((r) => r.path === '/shared-piles/7/price').pop().body, { periods: [
    { start: '00:00', end: '08:00', name: 'valley', energy_price_e4: 3000, service_price_e4: 1000 },
    { start: '08:00', end: '24:00', name: 'peak', energy_price_e4: 10000, service_price_e4: 3456 }] });
  vm.removePeriod(1);
  vm.removePeriod(0);
  assert.equal(vm.state.periods.length, 1, 'one period always stays');
  // back to one price all day: the flat form's prices are sent
  vm.setPriceMode('flat');
  vm.setField('energy', '0.8');
  vm.setField('service', '0.2');
  await vm.savePrice();
  assert.deepEqual(sent.filter((r) => r.path === '/shared-piles/7/price').pop().body.periods,
    [{ start: '00:00', end: '24:00', name: 'flat', energy_price_e4: 8000, service_price_e4: 2000 }]);
});
