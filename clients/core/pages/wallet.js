'use strict';
// The wallet: balance, recharge (WeChat Pay: the shell hands pay_params to wx.requestPayment,
// or in the H5 app to the payment page), recharge history, refunds of unused balance.
const f = require('../format');
const i18n = require('../i18n');
const { createStore, guarded } = require('../store');

const RECHARGE_PRESETS = [3000, 5000, 10000, 20000];

function stateText(ctx, prefix, state) {
  const key = prefix + String(state || '');
  return i18n.has(key) ? ctx.t(key) : String(state || '');
}

function createWallet(ctx) {
  const store = createStore({ loading: false, busy: false, error: '', errorCode: '', wallet: null, view: null,
    presets: RECHARGE_PRESETS.map((fen) => ({ fen, label: f.yuan(fen).replace(/\.00$/, '') })), amountFen: RECHARGE_PRESETS[1],
    customAmount: '', recharges: [], refunds: [], pending: null, notice: '' });

  function viewOf(w) {
    return { balance: f.yuan(w.balance_fen), cash: f.yuan(w.cash_fen), bonus: f.yuan(w.bonus_fen), held: f.yuan(w.held_fen),
      debt: w.debt_fen ? f.yuan(w.debt_fen) : '', refundable: f.yuan(w.refundable_fen), canRefund: (w.refundable_fen || 0) > 0 };
  }

  function load() {
    return guarded(store, ctx.t, () => Promise.all([ctx.api.wallet(), ctx.api.recharges(), ctx.api.refunds()]).then(([w, rc, rf]) => {
      store.set({
        wallet: w,
        view: viewOf(w),
        recharges: (rc.recharges || []).map((r) => ({ id: r.recharge_id, amount: f.yuan(r.amount_fen), state: r.state,
          stateText: stateText(ctx, 'recharge_state_', r.state), at: f.dateTime(r.created_at) })),
        refunds: (rf.refunds || []).map((r) => ({ id: r.refund_id, amount: f.yuan(r.amount_fen), state: r.state,
          stateText: stateText(ctx, 'refund_state_', r.state), at: f.dateTime(r.created_at) })),
      });
      return w;
    }), 'loading');
  }

  return {
    store,
    state: store.state,
    load,
    choosePreset(fen) { store.set({ amountFen: Number(fen), customAmount: '', error: '' }); },
    setCustomAmount(text) { store.set({ customAmount: String(text), error: '' }); },
    /** Create the recharge; resolves it with its pay_params for the shell to pay. */
    recharge() {
      const st = store.state;
      const fen = st.customAmount !== '' ? f.parseYuan(st.customAmount) : st.amountFen;
      if (!fen) { store.set({ error: ctx.t('invalid_amount'), errorCode: 'invalid_amount' }); return Promise.resolve(undefined); }
      return guarded(store, ctx.t, () => ctx.api.recharge(fen).then((r) => { store.set({ pending: r, notice: '' }); return r; }));
    },
    /** After the payment sheet closed: paid (the callback credits it) or cancelled. */
    paid(ok) {
      store.set({ notice: ctx.t(ok ? 'paid_ok' : 'pay_cancelled') });
      return load();
    },
    refund(amountFen, password) {
      const body = {};
      if (amountFen) body.amount_fen = amountFen;
      if (password) body.payment_password = password;
      return guarded(store, ctx.t, () => ctx.api.refund(body).then((r) => load().then(() => r)));
    },
  };
}

module.exports = { createWallet, RECHARGE_PRESETS };
