'use strict';
// "My pile" (docs/sharing.md): the owner's shared piles — pair a gun with the pairing code an
// operator gave, its weekly open hours, its price (a home pile's own), open or close it now,
// the earnings per session to the fen, and withdrawals to WeChat change. Amounts arrive in
// fen and are shown as they came; the API's refusals are shown in its own words.
const f = require('../format');
const { createStore, guarded } = require('../store');

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

function createPile(ctx) {
  const t = ctx.t;
  const store = createStore({ loading: false, busy: false, error: '', errorCode: '', piles: [], current: null,
    view: null, earnings: null, withdrawals: [], none: false, paired: null });

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

  function withdrawalView(w) {
    return { id: w.withdrawal_id, amount: f.yuan(w.amount_fen), state: w.state, stateText: t('withdrawal_' + w.state),
      at: f.dateTime(w.created_at), confirm: w.state === 'sending' && w.package_info ? w.package_info : null };
  }

  function showPile(p) {
    const piles = store.state.piles.map((x) => (x.pile_id === p.pile_id ? p : x));
    store.set({ current: p, view: pileView(p), piles });
  }

  function load() {
    store.set({ loading: true });
    return guarded(store, t, () => Promise.all([ctx.api.sharedPiles(), ctx.api.sharingEarnings(),
      ctx.api.sharingWithdrawals()]).then(([piles, earnings, ws]) => {
      const first = piles.piles[0] || null;
      store.set({ piles: piles.piles, none: piles.piles.length === 0, current: first, view: first ? pileView(first) : null,
        earnings: earningsView(earnings), withdrawals: ws.withdrawals.map(withdrawalView) });
    })).then((r) => { store.set({ loading: false }); return r; });
  }

  function select(id) {
    const p = store.state.piles.find((x) => x.pile_id === id);
    if (p) store.set({ current: p, view: pileView(p) });
  }

  function pair(gunCode, pairingCode) {
    return guarded(store, t, () => ctx.api.registerSharedPile(String(gunCode || '').trim(), String(pairingCode || ''))
      .then((p) => {
        store.set({ piles: store.state.piles.concat([p]), none: false, paired: pileView(p) });
        showPile(p);
        return p;
      }));
  }

  /** `spans`: [{days: ['mon', …], start: 'HH:MM', end: 'HH:MM'}] (the API checks them). */
  function setWindows(spans) {
    const p = store.state.current;
    return guarded(store, t, () => ctx.api.setSharedPileWindows(p.pile_id, spans).then(showPile));
  }

  /** One price all day: yuan per kWh for the energy and the service, as typed. */
  function setFlatPrice(energyYuan, serviceYuan) {
    const p = store.state.current;
    const e4 = (v) => Math.round(Number(v) * 10000);
    const period = { start: '00:00', end: '24:00', name: 'flat', energy_price_e4: e4(energyYuan),
      service_price_e4: e4(serviceYuan) };
    return guarded(store, t, () => ctx.api.setSharedPilePrice(p.pile_id, [period]).then(showPile));
  }

  function setOpen(open) {
    const p = store.state.current;
    return guarded(store, t, () => ctx.api.switchSharedPile(p.pile_id, Boolean(open)).then(showPile));
  }

  /** Withdraw `yuan` (as typed: '12.34') of the earnings; the list and balances read again. */
  function withdraw(yuan) {
    const fen = Math.round(Number(yuan) * 100);
    return guarded(store, t, () => ctx.api.requestWithdrawal(fen).then((w) =>
      Promise.all([ctx.api.sharingEarnings(), ctx.api.sharingWithdrawals()]).then(([e, ws]) => {
        store.set({ earnings: earningsView(e), withdrawals: ws.withdrawals.map(withdrawalView) });
        return w;
      })));
  }

  return {
    store, get state() { return store.state; }, DAYS,
    load, select, pair, setWindows, setFlatPrice, setOpen, withdraw,
  };
}

module.exports = { createPile, DAYS };
