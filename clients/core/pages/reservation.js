'use strict';
// Reserve a gun (from the station page or the scan page: `load(code)`), and the driver's
// reservation with its countdown and cancel (`openCurrent()`, or `reserve()` which shows the
// new one). The countdown runs on ctx's timers from `until`; the reservation is read again
// every 30 s and when the countdown ends (used, expired, cancelled elsewhere).
const f = require('../format');
const { createStore, errorText } = require('../store');

const TICK_MS = 1000;
const REFRESH_MS = 30000;
const LIVE = ['pending', 'active'];
const PRESETS = [15, 30, 60];

function createReservation(ctx) {
  const store = createStore({ loading: false, busy: false, error: '', errorCode: '', code: '', terms: null,
    termsView: null, minutes: 0, options: [], reservation: null, view: null, live: false, none: false, nearestGun: null });
  let timer = null;
  let lastRefresh = 0;
  let disposed = false;

  function outcome(refund) { return ctx.t(refund ? 'fee_refunded' : 'fee_kept'); }

  // How the tariff's own reservation fee is made up (fee mode `tariff`): '' when it is free or
  // the fee comes from elsewhere (the rules' fixed fee, the tariff's idle fee).
  function basisOf(t) {
    const p = t.tariff_fee;
    if (!p || (!p.fee_e4 && !p.per_minute_e4)) return '';
    const parts = [];
    if (p.fee_e4) parts.push(ctx.t('reserve_fee_each', { price: f.yuanE4(p.fee_e4) }));
    if (p.per_minute_e4) parts.push(ctx.t('reserve_fee_per_minute', { price: f.yuanE4(p.per_minute_e4) }));
    return ctx.t('reserve_fee_basis', { parts: parts.join(' + '), minutes: t.minutes });
  }

  function termsViewOf(t) {
    if (!t.enabled) return { enabled: false, note: ctx.t('reserve_disabled') };
    let note = '';
    if (t.suspended_until) note = ctx.t('reserve_suspended', { until: f.dateTime(t.suspended_until) });
    else if (t.held_until) note = ctx.t('reserve_held_until', { until: f.clock(t.held_until) });
    return {
      enabled: true, blocked: Boolean(t.suspended_until || t.held_until), note,
      fee: t.fee_fen ? f.yuan(t.fee_fen) : ctx.t('reserve_free'),
      basis: basisOf(t),
      rules: t.fee_fen ? [ctx.t('reserve_rules_start', { outcome: outcome(t.refund_on_start) }),
        ctx.t('reserve_rules_cancel', { outcome: outcome(t.refund_on_cancel) }),
        ctx.t('reserve_rules_no_show', { outcome: outcome(!t.keep_on_no_show) })] : [],
    };
  }

  function viewOf(r) {
    const live = LIVE.indexOf(r.state) >= 0;
    const left = live ? Math.max(0, Math.floor((r.until - ctx.now()) / 1000)) : 0;
    return {
      state: r.state,
      stateText: ctx.t('reservation_state_' + r.state),
      stationName: r.station_name || r.sid,
      gunName: r.gun_name || r.gun,
      gunCode: r.gun_code || '',
      until: ctx.t('reservation_until', { until: f.clock(r.until) }),
      left: live ? ctx.t('reservation_left', { left: f.countdown(left) }) : '',
      leftS: left,
      fee: r.fee_fen ? f.yuan(r.fee_fen) + (ctx.t('fee_state_' + r.fee_state) ? ' · ' + ctx.t('fee_state_' + r.fee_state) : '') : '',
      canCancel: live,
    };
  }

  function show(r) {
    const live = Boolean(r) && LIVE.indexOf(r.state) >= 0;
    store.set({ reservation: r, view: r ? viewOf(r) : null, live, none: !r, loading: false });
    schedule();
  }

  function schedule() {
    if (timer) { ctx.clearTimeout(timer); timer = null; }
    if (disposed || !store.state.live) return;
    timer = ctx.setTimeout(tick, TICK_MS);
  }

  function tick() {
    timer = null;
    const r = store.state.reservation;
    if (!r) return undefined;
    const view = viewOf(r);
    store.set({ view });
    if (view.leftS <= 0 || ctx.now() - lastRefresh >= REFRESH_MS) return refresh();
    schedule();
    return undefined;
  }

  function refresh() {
    const r = store.state.reservation;
    lastRefresh = ctx.now();
    return ctx.api.reservation(r.reservation_id).then(
      (fresh) => { show(fresh); return fresh; },
      // a failed read keeps the countdown going and tries again at the next refresh
      (err) => { store.set({ error: errorText(err, ctx.t), errorCode: err.code || '' }); schedule(); },
    );
  }

  function fail(err) {
    store.set({ busy: false, loading: false, error: errorText(err, ctx.t), errorCode: (err && err.code) || '' });
    return undefined;
  }

  return {
    store,
    state: store.state,
    TICK_MS,
    REFRESH_MS,
    /** The terms of reserving gun `code` (allowed, longest time, fee, its fate). */
    load(code) {
      disposed = false;
      store.set({ loading: true, code, error: '', errorCode: '', terms: null, termsView: null, reservation: null, view: null });
      return ctx.api.reservationTerms(code).then((t) => {
        const options = PRESETS.filter((m) => m < t.max_minutes).concat([t.max_minutes])
          .map((m) => ({ minutes: m, label: ctx.t('minutes_n', { n: m }) }));
        const minutes = Math.min(PRESETS[0], t.max_minutes);
        store.set({ loading: false, options, minutes });
        return this.setMinutes(minutes);
      }, fail);
    },
    /** Choose how long to hold the gun; the fee for that time comes from the API. */
    setMinutes(minutes) {
      const code = store.state.code;
      store.set({ minutes: Number(minutes) });
      return ctx.api.reservationTerms(code, Number(minutes)).then(
        (t) => { store.set({ terms: t, termsView: termsViewOf(t) }); return t; }, fail);
    },
    reserve() {
      const st = store.state;
      store.set({ busy: true, error: '', errorCode: '' });
      return ctx.api.reserve(st.code, st.minutes).then((r) => {
        store.set({ busy: false });
        lastRefresh = ctx.now();
        show(r);
        return r;
      }, fail);
    },
    /** The driver's live reservation, or `none`. */
    openCurrent() {
      disposed = false;
      store.set({ loading: true, error: '', errorCode: '' });
      lastRefresh = ctx.now();
      return ctx.api.currentReservation().then(show, (err) => {
        if (err && err.code === 'not_found') { show(null); return null; }
        return fail(err);
      });
    },
    cancel() {
      const r = store.state.reservation;
      if (!r) return Promise.resolve(undefined);
      store.set({ busy: true, error: '', errorCode: '' });
      return ctx.api.cancelReservation(r.reservation_id).then((done) => { store.set({ busy: false }); show(done); return done; }, fail);
    },
    /** The page is gone: the countdown stops. */
    dispose() {
      disposed = true;
      if (timer) ctx.clearTimeout(timer);
      timer = null;
    },
  };
}

module.exports = { createReservation, TICK_MS, REFRESH_MS };
