'use strict';
// One station: its guns and their states, prices now and next, the idle fee.
const f = require('../format');
const i18n = require('../i18n');
const { createStore, guarded } = require('../store');
const { stationItem } = require('./stations');

function gunStateText(ctx, state) {
  const key = 'gun_state_' + String(state || 'unknown').toLowerCase();
  return i18n.has(key) ? ctx.t(key) : String(state || ctx.t('gun_state_unknown'));
}

function idleFeeText(ctx, idle) {
  if (!idle) return '';
  // jcproto/tariff.py IdleFee: {grace_min, step_min, fen_per_step, cap_fen}
  if (!Number.isFinite(idle.fen_per_step)) return '';
  return ctx.t('idle_fee_text', { grace_min: idle.grace_min, step_min: idle.step_min,
    fen: f.yuan(idle.fen_per_step), cap: idle.cap_fen ? f.yuan(idle.cap_fen) : '—' });
}

function createStation(ctx) {
  const store = createStore({ loading: false, error: '', errorCode: '', station: null, item: null, guns: [], idleFee: '' });
  return {
    store,
    state: store.state,
    load(sid) {
      return guarded(store, ctx.t, () => ctx.api.station(sid).then((s) => {
        store.set({ station: s, item: stationItem(ctx, s), idleFee: idleFeeText(ctx, s.idle_fee),
          guns: (s.guns || []).map((g) => ({ gun: g.gun, code: g.code, name: g.name || g.gun, state: g.state,
            stateText: gunStateText(ctx, g.state), free: String(g.state || '').toLowerCase() === 'available',
            // a gun free now can be reserved (the station's rules decide on the reserve page)
            reservable: Boolean(g.code) && Boolean(g.free),
            rated: g.rated_power_w ? f.kw(g.rated_power_w) : '', power: g.power_w ? f.kw(g.power_w) : '' })) });
        return s;
      }), 'loading');
    },
  };
}

module.exports = { createStation, gunStateText, idleFeeText };
