'use strict';
// A finished order: electricity and service lines per time-of-use period, the idle fee, the
// stop reason; rating (1-5 stars and an optional comment) once it is settled.
const f = require('../format');
const i18n = require('../i18n');
const { createStore, guarded } = require('../store');

function label(ctx, prefix, value) {
  const key = prefix + String(value || '').toLowerCase();
  return i18n.has(key) ? ctx.t(key) : String(value || '');
}

function viewOf(ctx, o) {
  const lines = (o.lines || []).map((l) => ({
    kind: l.kind,
    label: ctx.t('line_' + l.kind) + (l.period ? ' · ' + label(ctx, 'period_', l.period) : ''),
    energy: l.kind === 'idle' || l.energy_wh === null || l.energy_wh === undefined ? '' : f.kwh(l.energy_wh),
    fen: f.yuan(l.fen),
  }));
  return {
    orderId: o.order_id,
    state: o.state,
    stateText: ctx.t('order_state_' + o.state),
    stationName: o.station_name || o.sid,
    gun: o.gun,
    startedAt: f.dateTime(o.started_at || o.created_at),
    endedAt: o.ended_at ? f.dateTime(o.ended_at) : '',
    duration: f.duration(o.duration_s, ctx.lang()),
    energy: f.kwh(o.energy_wh || 0),
    lines,
    idle: o.idle_fen ? f.yuan(o.idle_fen) : '',
    total: f.yuan(o.total_fen !== null && o.total_fen !== undefined ? o.total_fen : o.cost_fen),
    debt: o.debt_fen ? f.yuan(o.debt_fen) : '',
    refund: o.refund_fen ? f.yuan(o.refund_fen) : '',
    stopReason: o.stop_reason ? label(ctx, 'stop_reason_', o.stop_reason) : '',
    abnormal: o.abnormal_reason || '',
    canRate: o.state === 'settled' && !o.rating,
    // a settled order may be reviewed at its station (docs/community.md)
    sid: o.sid, canReview: o.state === 'settled' && Boolean(o.sid),
    rating: o.rating,
  };
}

function createOrder(ctx) {
  const store = createStore({ loading: false, busy: false, error: '', errorCode: '', order: null, view: null,
    stars: 0, comment: '', starList: [1, 2, 3, 4, 5].map((n) => ({ n, on: false })) });
  function setStars(n) {
    const stars = Math.max(0, Math.min(5, Number(n) || 0));
    store.set({ stars, starList: [1, 2, 3, 4, 5].map((k) => ({ n: k, on: k <= stars })) });
  }
  return {
    store,
    state: store.state,
    load(id) {
      return guarded(store, ctx.t, () => ctx.api.order(id).then((o) => { store.set({ order: o, view: viewOf(ctx, o) }); return o; }), 'loading');
    },
    setStars,
    setComment(text) { store.set({ comment: String(text) }); },
    rate() {
      const st = store.state;
      if (!st.stars) { store.set({ error: ctx.t('stars_required'), errorCode: 'stars_required' }); return Promise.resolve(undefined); }
      if (st.comment.length > 500) { store.set({ error: ctx.t('comment_too_long'), errorCode: 'comment_too_long' }); return Promise.resolve(undefined); }
      return guarded(store, ctx.t, () => ctx.api.rateOrder(st.order.order_id, st.stars, st.comment.trim())
        .then(() => ctx.api.order(st.order.order_id))
        .then((o) => { store.set({ order: o, view: viewOf(ctx, o) }); return o; }));
    },
  };
}

module.exports = { createOrder, orderView: viewOf };
