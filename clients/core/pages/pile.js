'use strict';
// "My pile" (docs/sharing.md): the owner's shared piles — pair a gun with the pairing code an
// operator gave, its weekly open hours, its price (a home pile's own), open or close it now,
// the earnings per session to the fen, and withdrawals to WeChat change — with the wallet's
// payment password when the owner set one (asked before sending, and whenever the API answers
// `payment_password_required`). Amounts arrive in fen and are shown as they came; the API's
// refusals are shown in its own words. The form's fields live here too (`setField`), so a
// shell may keep them in its own view instead (the H5 app does) and pass them to the actions.
const f = require('../format');
const { createStore, guarded } = require('../store');
const { parseGunCode } = require('./scan');

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
// a period's name is its kind, as drivers' bills name it (periods of one kind share one price)
const KINDS = ['tip', 'peak', 'flat', 'valley'];
const PRICE = /^\d+(\.\d{1,4})?$/; // yuan per kWh, to the tariff's 1/10000 yuan

function createPile(ctx) {
  const t = ctx.t;
  const store = createStore({ loading: false, busy: false, error: '', errorCode: '', piles: [], current: null,
    view: null, earnings: null, withdrawals: [], none: false, paired: null, list: [],
    passwordSet: false, askPassword: false, notice: '',
    // the open hours being edited: spans of weekdays, each HH:MM to HH:MM; the price: one all
    // day ('flat') or by period ('periods': start, end, kind and the two prices in yuan)
    spans: [], priceMode: 'flat', periods: [],
    // the form: gun code (typed or scanned), pairing code, hours every day, flat price, amount
    gunCode: '', pairingCode: '', start: '08:00', end: '22:00', energy: '', service: '', amount: '', password: '' });
  const FIELDS = ['gunCode', 'pairingCode', 'start', 'end', 'energy', 'service', 'amount', 'password'];

  function windowText(w) { return t('day_' + w.day) + ' ' + w.start + '–' + w.end; }

  function pileView(p) {
    return {
      id: p.pile_id,
      title: (p.gun_code || p.gun) + ' · ' + p.sid,
      open: p.open,
      stateText: !p.open ? t('pile_closed_state') : (p.open_now ? t('pile_open_now') : t('pile_open_outside')),
      windows: p.windows.map(windowText),
      commission: t('pile_commission', { pct: (p.commission_bp / 100).toFixed(2) }),
    };
  }

  function earningsView(e) {
    return {
      balance: f.yuan(e.balance_fen), withdrawing: f.yuan(e.withdrawing_fen), debt: e.debt_fen ? f.yuan(e.debt_fen) : '',
      canWithdraw: e.balance_fen > 0,
      sessions: e.sessions.map((x) => ({ orderId: x.order_id, at: f.dateTime(x.at), total: f.yuan(x.total_fen),
        owner: f.yuan(x.owner_net_fen), platform: f.yuan(x.platform_fen),
        clawedBack: x.clawed_back_fen ? f.yuan(x.clawed_back_fen) : '' })),
    };
  }

  /** `waiting`: WeChat holds the transfer until the payee confirms it (商家转账, 用户确认模式);
   * `confirm`: the parameters for wx.requestMerchantTransfer the API gave for it. */
  function withdrawalView(w) {
    const waiting = w.state === 'sending' && Boolean(w.package_info);
    return { id: w.withdrawal_id, amount: f.yuan(w.amount_fen), state: w.state,
      stateText: t(waiting ? 'withdrawal_confirm' : 'withdrawal_' + w.state), at: f.dateTime(w.created_at),
      waiting, confirm: waiting && w.confirm_params ? w.confirm_params : null };
  }

  function reread() {
    return Promise.all([ctx.api.sharingEarnings(), ctx.api.sharingWithdrawals()]).then(([e, ws]) => {
      store.set({ earnings: earningsView(e), withdrawals: ws.withdrawals.map(withdrawalView) });
    });
  }

  /** The piles as a list to choose from (the chosen one marked). */
  function listOf(piles, current) {
    return piles.map((p) => Object.assign(pileView(p), { on: Boolean(current && current.pile_id === p.pile_id) }));
  }

  function spanView(days, start, end) {
    return { start, end, days: DAYS.map((d) => ({ day: d, text: t('day_' + d), on: days.indexOf(d) >= 0 })) };
  }

  /** The API's windows (one per weekday and span) as the spans to edit: days with the same
   * hours together; a pile without windows starts from one span every day. */
  function spansOf(windows) {
    const spans = [];
    (windows || []).forEach((w) => {
      const same = spans.find((x) => x.start === w.start && x.end === w.end && x.days.indexOf(w.day) < 0);
      if (same) same.days.push(w.day); else spans.push({ days: [w.day], start: w.start, end: w.end });
    });
    if (!spans.length) spans.push({ days: DAYS.slice(), start: store.state.start, end: store.state.end });
    return spans.map((x) => spanView(x.days, x.start, x.end));
  }

  function periodView(start, end, name, energy, service) {
    return { start, end, name, energy, service,
      kinds: KINDS.map((k) => ({ kind: k, text: t('period_' + k), on: k === name })) };
  }

  function showPile(p) {
    const piles = store.state.piles.map((x) => (x.pile_id === p.pile_id ? p : x));
    const fresh = !store.state.current || store.state.current.pile_id !== p.pile_id;
    store.set({ current: p, view: pileView(p), piles, list: listOf(piles, p) });
    if (fresh || !store.state.spans.length) store.set({ spans: spansOf(p.windows) });
    if (!store.state.periods.length) store.set({ periods: [periodView('00:00', '24:00', 'flat', '', '')] });
  }

  function load() {
    store.set({ loading: true });
    return guarded(store, t, () => Promise.all([ctx.api.sharedPiles(), ctx.api.sharingEarnings(),
      ctx.api.sharingWithdrawals(), ctx.api.me()]).then(([piles, earnings, ws, me]) => {
      // the pile shown stays the one chosen, when it is still there
      const kept = store.state.current && piles.piles.find((p) => p.pile_id === store.state.current.pile_id);
      const first = kept || piles.piles[0] || null;
      store.set({ piles: piles.piles, none: piles.piles.length === 0, current: first, view: first ? pileView(first) : null,
        list: listOf(piles.piles, first), earnings: earningsView(earnings), withdrawals: ws.withdrawals.map(withdrawalView),
        passwordSet: Boolean(me && me.has_payment_password), spans: first ? spansOf(first.windows) : [],
        periods: store.state.periods.length ? store.state.periods : [periodView('00:00', '24:00', 'flat', '', '')] });
    })).then((r) => { store.set({ loading: false }); return r; });
  }

  function select(id) {
    const p = store.state.piles.find((x) => String(x.pile_id) === String(id));
    if (p) store.set({ current: p, view: pileView(p), list: listOf(store.state.piles, p), spans: spansOf(p.windows) });
  }

  function setField(name, value) {
    if (FIELDS.indexOf(name) >= 0) store.set({ [name]: String(value === undefined || value === null ? '' : value) });
  }

  /** What the gun's QR code held (its link or the bare code), as the pairing form's gun code. */
  function scanned(text) {
    const code = parseGunCode(text);
    if (!code) {
      store.set({ error: t('unknown_error', { code: 'gun_code' }), errorCode: 'gun_code' });
      return '';
    }
    store.set({ gunCode: code, error: '', errorCode: '' });
    return code;
  }

  function pair(gunCode, pairingCode) {
    const gun = gunCode === undefined ? store.state.gunCode : gunCode;
    const code = pairingCode === undefined ? store.state.pairingCode : pairingCode;
    return guarded(store, t, () => ctx.api.registerSharedPile(String(gun || '').trim(), String(code || ''))
      .then((p) => {
        store.set({ piles: store.state.piles.concat([p]), none: false, paired: pileView(p), pairingCode: '' });
        showPile(p);
        return p;
      }));
  }

  /** The form's hours as every day's one span. */
  function saveHours() {
    return setWindows([{ days: DAYS, start: store.state.start, end: store.state.end }]);
  }

  /** `spans`: [{days: ['mon', …], start: 'HH:MM', end: 'HH:MM'}] (the API checks them). */
  function setWindows(spans) {
    const p = store.state.current;
    return guarded(store, t, () => ctx.api.setSharedPileWindows(p.pile_id, spans).then(showPile));
  }

  /** One price all day: yuan per kWh for the energy and the service, as typed. */
  function setFlatPrice(energyYuan, serviceYuan) {
    const p = store.state.current;
    if (energyYuan === undefined) energyYuan = store.state.energy;
    if (serviceYuan === undefined) serviceYuan = store.state.service;
    const e4 = (v) => Math.round(Number(v) * 10000);
    const period = { start: '00:00', end: '24:00', name: 'flat', energy_price_e4: e4(energyYuan),
      service_price_e4: e4(serviceYuan) };
    return guarded(store, t, () => ctx.api.setSharedPilePrice(p.pile_id, [period]).then(showPile));
  }

  function setSpans(spans) { store.set({ spans }); }

  function addSpan() {
    setSpans(store.state.spans.concat([spanView([], '08:00', '22:00')]));
  }

  function removeSpan(i) {
    setSpans(store.state.spans.filter((x, j) => j !== Number(i)));
  }

  function toggleDay(i, day) {
    setSpans(store.state.spans.map((x, j) => (j !== Number(i) ? x
      : Object.assign({}, x, { days: x.days.map((d) => (d.day === day ? Object.assign({}, d, { on: !d.on }) : d)) }))));
  }

  /** `key`: 'start' or 'end' of span `i`, as typed (HH:MM; the API checks it). */
  function setSpan(i, key, value) {
    if (key !== 'start' && key !== 'end') return;
    setSpans(store.state.spans.map((x, j) => (j !== Number(i) ? x : Object.assign({}, x, { [key]: String(value || '') }))));
  }

  /** The spans as the pile's windows: each needs a weekday; none at all closes every hour. */
  function saveSpans() {
    const spans = store.state.spans;
    if (spans.some((x) => !x.days.some((d) => d.on))) {
      store.set({ error: t('pile_span_no_days'), errorCode: 'pile_span_no_days' });
      return Promise.resolve(undefined);
    }
    return setWindows(spans.map((x) => ({ days: x.days.filter((d) => d.on).map((d) => d.day), start: x.start, end: x.end })));
  }

  function setPriceMode(mode) {
    if (mode === 'flat' || mode === 'periods') store.set({ priceMode: mode });
  }

  function addPeriod() {
    const ps = store.state.periods;
    const last = ps[ps.length - 1];
    const used = ps.map((x) => x.name);
    const kind = KINDS.find((k) => used.indexOf(k) < 0) || 'flat';
    store.set({ periods: ps.concat([periodView(last && last.end !== '24:00' ? last.end : '', '24:00', kind, '', '')]) });
  }

  function removePeriod(i) {
    if (store.state.periods.length > 1) store.set({ periods: store.state.periods.filter((x, j) => j !== Number(i)) });
  }

  /** `key` of period `i`: 'start', 'end' (HH:MM), 'name' (a kind) or 'energy', 'service' (yuan per kWh). */
  function setPeriod(i, key, value) {
    if (['start', 'end', 'name', 'energy', 'service'].indexOf(key) < 0) return;
    if (key === 'name' && KINDS.indexOf(value) < 0) return;
    store.set({ periods: store.state.periods.map((x, j) => {
      if (j !== Number(i)) return x;
      const y = Object.assign({}, x, { [key]: String(value === undefined || value === null ? '' : value) });
      return periodView(y.start, y.end, y.name, y.energy, y.service);
    }) });
  }

  /** The periods as the pile's tariff: together they must cover the day (the API checks);
   * a price that is not yuan with at most four decimals is refused here. */
  function savePeriods() {
    const p = store.state.current;
    const ps = store.state.periods;
    if (ps.some((x) => !PRICE.test(String(x.energy).trim()) || !PRICE.test(String(x.service).trim()))) {
      store.set({ error: t('pile_price_invalid'), errorCode: 'pile_price_invalid' });
      return Promise.resolve(undefined);
    }
    const e4 = (v) => Math.round(Number(String(v).trim()) * 10000);
    const periods = ps.map((x) => ({ start: x.start, end: x.end, name: x.name, energy_price_e4: e4(x.energy),
      service_price_e4: e4(x.service) }));
    return guarded(store, t, () => ctx.api.setSharedPilePrice(p.pile_id, periods).then(showPile));
  }

  /** The price as the form holds it: flat (the form's two prices) or by period. */
  function savePrice() {
    return store.state.priceMode === 'periods' ? savePeriods() : setFlatPrice();
  }

  function setOpen(open) {
    const p = store.state.current;
    return guarded(store, t, () => ctx.api.switchSharedPile(p.pile_id, Boolean(open)).then(showPile));
  }

  /** Withdraw `yuan` (as typed: '12.34'; the form's amount without it) of the earnings with
   * `password` (the form's without it) — asked for first when the owner has set one: resolves
   * undefined with state.askPassword. A refusal for the password (`payment_password_required`)
   * asks for it; a wrong one is cleared to type again. Then the list and balances read again. */
  function withdraw(yuan, password) {
    const st = store.state;
    const fen = f.parseYuan(yuan === undefined ? st.amount : yuan);
    if (!fen) {
      store.set({ error: t('invalid_amount'), errorCode: 'invalid_amount' });
      return Promise.resolve(undefined);
    }
    const pw = password === undefined ? st.password : String(password || '');
    if (st.passwordSet && !pw) {
      store.set({ askPassword: true, error: '', errorCode: '' });
      return Promise.resolve(undefined);
    }
    store.set({ notice: '' });
    return guarded(store, t, () => ctx.api.requestWithdrawal(fen, pw || undefined).then((w) => reread().then(() => {
      store.set({ askPassword: false, password: '', amount: '' });
      return w;
    }))).then((w) => {
      const code = store.state.errorCode;
      if (code === 'payment_password_required') store.set({ askPassword: true, passwordSet: true });
      if (/^payment_password_(wrong|format|locked)/.test(code)) store.set({ askPassword: true, password: '' });
      return w;
    });
  }

  /** wx.requestMerchantTransfer's parameters for withdrawal `id` while it waits for the payee
   * (a copy), or null. */
  function confirmParams(id) {
    const w = store.state.withdrawals.find((x) => String(x.id) === String(id));
    return w && w.confirm ? Object.assign({}, w.confirm) : null;
  }

  /** WeChat's confirmation page closed: `ok` when it succeeded (which does not yet mean paid),
   * else `how` ('cancel', 'fail' or 'unsupported': a WeChat too old for it). The withdrawal is
   * asked again — the cloud queries WeChat Pay — and the balances and the list read again. */
  function confirmed(id, ok, how) {
    if (!ok && how === 'unsupported') {
      store.set({ notice: t('pile_confirm_unsupported') });
      return Promise.resolve(undefined);
    }
    store.set({ notice: '' });
    return guarded(store, t, () => ctx.api.sharingWithdrawal(id).then((w) => reread().then(() => {
      let notice = '';
      if (!ok) notice = t('pile_confirm_cancelled');
      else if (w.state === 'sending') notice = t('pile_confirm_pending');
      store.set({ notice });
      return w;
    })));
  }

  return {
    store, get state() { return store.state; }, DAYS,
    load, select, setField, scanned, pair, setWindows, saveHours, setFlatPrice, setOpen, withdraw,
    confirmParams, confirmed, addSpan, removeSpan, toggleDay, setSpan, saveSpans,
    setPriceMode, addPeriod, removePeriod, setPeriod, savePeriods, savePrice, KINDS,
  };
}

module.exports = { createPile, DAYS, KINDS };
