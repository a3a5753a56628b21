'use strict';
// The wallet: balance, recharge (WeChat Pay: the shell hands pay_params to wx.requestPayment
// or, in the H5 app, to WeixinJSBridge inside WeChat, or sends the browser to h5_url), the
// recharge's outcome asked of the cloud, recharge history, refunds of unused balance.
const f = require('../format');
const i18n = require('../i18n');
const { createStore, guarded } = require('../store');

const RECHARGE_PRESETS = [3000, 5000, 10000, 20000];

function stateText(ctx, prefix, state) {
  const key = prefix + String(state || '');
  return i18n.has(key) ? ctx.t(key) : String(state || '');
}

/** How a payment was made, in the driver's words (the API's `channel`; null for payments made
 * before the cloud kept it: nothing shown), and "session prepayment" for a `session` one. */
function channelText(ctx, r) {
  const words = [];
  if (r.channel && i18n.has('pay_channel_' + r.channel)) words.push(ctx.t('pay_channel_' + r.channel));
  if (r.purpose === 'session') words.push(ctx.t('recharge_purpose_session'));
  return words.join(' · ');
}

function createWallet(ctx) {
  const store = createStore({ loading: false, busy: false, error: '', errorCode: '', wallet: null, view: null,
    presets: RECHARGE_PRESETS.map((fen) => ({ fen, label: f.yuan(fen).replace(/\.00$/, '') })), amountFen: RECHARGE_PRESETS[1],
    customAmount: '', recharges: [], refunds: [], pending: null, notice: '', confirming: null, confirmed: null });

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
          stateText: stateText(ctx, 'recharge_state_', r.state), at: f.dateTime(r.created_at),
          channel: r.channel || '', channelText: channelText(ctx, r),
        })),
        refunds: (rf.refunds || []).map((r) => ({ id: r.refund_id, amount: f.yuan(r.amount_fen), state: r.state,
          stateText: stateText(ctx, 'refund_state_', r.state), at: f.dateTime(r.created_at),
          kindText: ctx.t(r.order_id ? 'refund_kind_prepay' : 'refund_kind_balance'),
          // every refund the API lists goes back to the payments it came from (its parts'
          // out_trade_no); a console refund to the balance is a ledger entry, not a refund here
          routeText: ctx.t('refund_route_original'),
        })),
      });
      return w;
    }), 'loading');
  }

  const vm = {
    store,
    state: store.state,
    load,
    choosePreset(fen) { store.set({ amountFen: Number(fen), customAmount: '', error: '' }); },
    setCustomAmount(text) { store.set({ customAmount: String(text), error: '' }); },
    /** Create the recharge; resolves it with how to pay it (pay_params for the payment
     * sheet, or h5_url for the provider's page) for the shell. `channel` as api.recharge. */
    recharge(channel) {
      const st = store.state;
      const fen = st.customAmount !== '' ? f.parseYuan(st.customAmount) : st.amountFen;
      if (!fen) { store.set({ error: ctx.t('invalid_amount'), errorCode: 'invalid_amount' }); return Promise.resolve(undefined); }
      return guarded(store, ctx.t, () => ctx.api.recharge(fen, channel).then((r) => { store.set({ pending: r, notice: '' }); return r; }));
    },
    /** After the payment sheet closed: paid (the callback credits it) or cancelled. */
    paid(ok) {
      store.set({ notice: ctx.t(ok ? 'paid_ok' : 'pay_cancelled') });
      return load();
    },
    /** Back from paying recharge `id` (the provider's page, or a payment sheet that said ok):
     * what the cloud says of it decides, never where the browser came back from. Asks every
     * `everyMs` until it is no longer pending (at most `tries` times), then shows the wallet. */
    confirm(id, tries, everyMs) {
      const left = tries === undefined ? 20 : tries;
      const wait = everyMs || 1500;
      store.set({ notice: ctx.t('pay_checking'), confirming: id });
      return ctx.api.rechargeStatus(id).then((r) => {
        if (r.state === 'pending' && left > 1) {
          return new Promise((resolve) => { ctx.setTimeout(resolve, wait); }).then(() => vm.confirm(id, left - 1, wait));
        }
        const key = r.state === 'pending' ? 'pay_pending' : (r.state === 'closed' ? 'pay_closed' : 'pay_credited');
        store.set({ notice: ctx.t(key), confirming: null, confirmed: r });
        return load().then(() => r);
      }, (err) => {
        store.set({ confirming: null, error: err && err.message ? err.message : ctx.t('unknown_error'), errorCode: (err && err.code) || '' });
        return undefined;
      });
    },
    refund(amountFen, password) {
      const body = {};
      if (amountFen) body.amount_fen = amountFen;
      if (password) body.payment_password = password;
      return guarded(store, ctx.t, () => ctx.api.refund(body).then((r) => load().then(() => r)));
    },
  };
  return vm;
}

module.exports = { createWallet, channelText, RECHARGE_PRESETS };
