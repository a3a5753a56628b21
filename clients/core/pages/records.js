'use strict';
// Charging records: the driver's orders, newest first, a page at a time.
const f = require('../format');
const { createStore, guarded } = require('../store');

const PAGE = 20;

function createRecords(ctx) {
  const store = createStore({ loading: false, error: '', errorCode: '', items: [], more: false, empty: false });
  let last = null;
  function fetch(before) {
    const params = { limit: PAGE };
    if (before) params.before = before;
    return ctx.api.orders(params).then((r) => {
      const orders = r.orders || [];
      const items = orders.map((o) => ({ id: o.order_id, station: o.station_name || o.sid, at: f.dateTime(o.created_at),
        energy: f.kwh(o.energy_wh || 0), total: f.yuan(o.total_fen !== null && o.total_fen !== undefined ? o.total_fen : o.cost_fen),
        state: o.state, stateText: ctx.t('order_state_' + o.state) }));
      if (orders.length) last = orders[orders.length - 1].created_at;
      return { items, more: orders.length === PAGE };
    });
  }
  return {
    store,
    state: store.state,
    load() {
      last = null;
      return guarded(store, ctx.t, () => fetch(null).then((r) => { store.set({ items: r.items, more: r.more, empty: r.items.length === 0 }); return r.items; }), 'loading');
    },
    more() {
      return guarded(store, ctx.t, () => fetch(last).then((r) => { store.set({ items: store.state.items.concat(r.items), more: r.more }); return r.items; }), 'loading');
    },
  };
}

module.exports = { createRecords };
