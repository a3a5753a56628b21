'use strict';
// A running order: polled every 5 s (GET /orders/<id>) while it runs; stop from the phone.
const f = require('../format');
const { createStore, errorText } = require('../store');

const POLL_MS = 5000;
const RUNNING = ['created', 'starting', 'charging', 'ended'];

function createCharging(ctx) {
  const store = createStore({ loading: false, busy: false, error: '', errorCode: '', order: null, view: null, running: false, done: false });
  let timer = null;
  let id = null;
  let disposed = false;

  function viewOf(o) {
    const elapsed = o.duration_s !== null && o.duration_s !== undefined ? o.duration_s
      : o.started_at ? Math.max(0, Math.floor((ctx.now() - o.started_at) / 1000)) : 0;
    return {
      state: o.state,
      stateText: ctx.t('order_state_' + o.state),
      stationName: o.station_name || o.sid,
      gun: o.gun,
      energy: f.kwh(o.energy_wh || 0),
      power: o.power_w === null || o.power_w === undefined ? '—' : f.kw(o.power_w),
      cost: f.yuan(o.cost_fen || 0),
      elapsed: f.duration(elapsed, ctx.lang()),
      soc: o.soc === null || o.soc === undefined ? '—' : o.soc + '%',
      orderly: orderlyText(o),
    };
  }

  /** "Charge until departure": how the station's plan stands, in words; '' for other orders. */
  function orderlyText(o) {
    const p = o.orderly;
    if (!p) return o.departure_at ? ctx.t('orderly_planned', { time: f.clock(o.departure_at) }) : '';
    const time = f.clock(p.departure_at || o.departure_at);
    if (p.status === 'on_track') return ctx.t('orderly_on_track', { time });
    if (p.status === 'cannot_meet') {
      return ctx.t('orderly_cannot_meet', { kwh: f.kwh(p.energy_wh || 0), time, expected: f.kwh(p.expected_wh || 0) });
    }
    return ctx.t('orderly_' + p.status);
  }

  function show(o) {
    const running = RUNNING.indexOf(o.state) >= 0;
    store.set({ order: o, view: viewOf(o), running, done: !running, loading: false });
  }

  function schedule() {
    if (disposed || !store.state.running) return;
    timer = ctx.setTimeout(poll, POLL_MS);
  }

  function poll() {
    timer = null;
    return ctx.api.order(id).then(
      (o) => { show(o); store.set({ error: '', errorCode: '' }); schedule(); return o; },
      // a failed poll (a tunnel, a lift) keeps the last picture and tries again
      (err) => { store.set({ error: errorText(err, ctx.t), errorCode: err.code || '', loading: false }); if (err.code !== 'not_found' && err.status !== 401) schedule(); },
    );
  }

  return {
    store,
    state: store.state,
    POLL_MS,
    open(orderId) {
      id = orderId;
      disposed = false;
      store.set({ loading: true, running: true });
      return poll();
    },
    stop() {
      store.set({ busy: true, error: '', errorCode: '' });
      return ctx.api.stopOrder(id).then(
        (o) => { store.set({ busy: false }); show(o); if (!timer) schedule(); return o; },
        (err) => { store.set({ busy: false, error: errorText(err, ctx.t), errorCode: err.code || '' }); return undefined; },
      );
    },
    /** The page is gone: no more polls. */
    dispose() {
      disposed = true;
      if (timer) ctx.clearTimeout(timer);
      timer = null;
    },
  };
}

module.exports = { createCharging, POLL_MS };
