'use strict';
// Battery swap (换电, docs/swap.md): swap stations near the driver (`createSwapStations`), one
// swap station with its bays, the packs ready now and predicted by type, and booking a slot
// (`createSwapStation`: choose the pack type and the slot; the fee comes from the station's
// reservation rules, per slot, beside the wallet's balance), and the driver's booking with
// cancel and the history (`createSwapBooking`). The swap routes are called through the API
// client's `request` (the routes of /api/v1/driver/swap-*).
const f = require('../format');
const { query } = require('../api');
const { createStore, guarded } = require('../store');

/** The driver API's battery-swap routes over the context's API client. */
function swapApi(api) {
  return {
    stations: (params) => api.request('GET', '/swap-stations' + query(params)),
    station: (sid) => api.request('GET', '/swap-stations/' + encodeURIComponent(sid)),
    book: (sid, typeCode, slotStart) =>
      api.request('POST', '/swap-bookings', { sid, type_code: typeCode, slot_start: slotStart }),
    bookings: (params) => api.request('GET', '/swap-bookings' + query(params)),
    current: () => api.request('GET', '/swap-bookings/current'),
    booking: (id) => api.request('GET', '/swap-bookings/' + encodeURIComponent(id)),
    cancel: (id) => api.request('POST', '/swap-bookings/' + encodeURIComponent(id) + '/cancel'),
  };
}

function slotText(start, end) { return f.clock(start) + '–' + f.clock(end); }

function baysText(ctx, bays) {
  return ctx.t('swap_bays_free', { free: bays.free || 0, total: bays.total || 0 });
}

/** A pack type of the API (ready now, charging, predicted) as the pages show it. */
function packTypeItem(ctx, p) {
  const later = (p.predicted || []).slice(1).map((x) => ({ at: x.at,
    text: ctx.t('swap_ready_by', { at: f.clock(x.at), n: x.ready }) }));
  return { code: p.type_code, name: p.name, kwh: p.kwh ? p.kwh + ' kWh' : '',
    ready: p.ready, readyText: ctx.t('swap_ready_now', { n: p.ready }),
    chargingText: p.charging ? ctx.t('swap_charging_n', { n: p.charging }) : '',
    bookable: p.bookable_now, predicted: later };
}

/** A swap station of the list (GET /swap-stations). */
function swapStationItem(ctx, s) {
  return { sid: s.sid, name: s.name || s.sid, address: s.address || '',
    distance: s.distance_m === undefined || s.distance_m === null ? '' : f.distance(s.distance_m),
    bays: baysText(ctx, s.bays || {}),
    packs: (s.pack_types || []).map((p) => ({ code: p.type_code,
      text: p.name + ' · ' + ctx.t('swap_ready_now', { n: p.ready }) })) };
}

function createSwapStations(ctx) {
  const api = swapApi(ctx.api);
  const store = createStore({ loading: false, error: '', errorCode: '', center: null, stations: [], items: [], empty: false });
  function load() {
    const c = store.state.center;
    const params = c ? { lat: c.lat.toFixed(6), lng: c.lng.toFixed(6) } : {};
    return guarded(store, ctx.t, () => api.stations(params).then((r) => {
      const list = r.stations || [];
      store.set({ stations: list, items: list.map((s) => swapStationItem(ctx, s)), empty: list.length === 0 });
      return list;
    }), 'loading');
  }
  return {
    store,
    state: store.state,
    load,
    /** The driver's position, GCJ-02. */
    setCenter(lat, lng) { store.set({ center: { lat, lng } }); return load(); },
  };
}

function outcome(ctx, back) { return ctx.t(back ? 'fee_refunded' : 'fee_kept'); }

/** The station's rules for the fee, worded (empty when booking is free). */
function rulesOf(ctx, rules) {
  if (!rules || rules.fee_mode === 'none') return [];
  return [ctx.t('swap_rules_done', { outcome: outcome(ctx, rules.refund_on_start) }),
    ctx.t('reserve_rules_cancel', { outcome: outcome(ctx, rules.refund_on_cancel) }),
    ctx.t('reserve_rules_no_show', { outcome: outcome(ctx, !rules.keep_on_no_show) })];
}

function createSwapStation(ctx) {
  const api = swapApi(ctx.api);
  const store = createStore({ loading: false, busy: false, error: '', errorCode: '', sid: '', station: null,
    item: null, types: [], typeCode: '', slots: [], slotStart: null, fee: '', rules: [], enabled: false,
    balance: '', canBook: false, booking: null });

  /** The slots as offered for the chosen type: bookable when a bay and a pack are left. */
  function slotsFor(st, code) {
    return (st.slots || []).map((x) => {
      const packs = (x.packs || {})[code] || 0;
      const open = x.bays_free > 0 && packs > 0;
      return { start: x.start, label: slotText(x.start, x.end), open, feeFen: x.fee_fen,
        note: open ? ctx.t('swap_slot_left', { n: Math.min(x.bays_free, packs) })
          : ctx.t(x.bays_free > 0 ? 'swap_slot_no_pack' : 'swap_slot_full') };
    });
  }

  function choose(code, start) {
    const st = store.state.station;
    if (!st) return;
    const slots = slotsFor(st, code);
    const picked = slots.find((x) => x.start === start && x.open) || slots.find((x) => x.open) || null;
    store.set({ typeCode: code, slots, slotStart: picked ? picked.start : null,
      fee: picked ? (picked.feeFen ? f.yuan(picked.feeFen) : ctx.t('reserve_free')) : '',
      canBook: Boolean(picked) });
  }

  return {
    store,
    state: store.state,
    /** Swap station `sid` and the wallet's balance (the fee is held on it). */
    load(sid) {
      store.set({ sid, booking: null });
      return guarded(store, ctx.t, () => Promise.all([api.station(sid), ctx.api.wallet()]).then(([st, w]) => {
        const types = (st.pack_types || []).map((p) => packTypeItem(ctx, p));
        const keep = types.find((x) => x.code === store.state.typeCode);
        store.set({ station: st, types, enabled: Boolean(st.rules && st.rules.enabled),
          item: { name: st.name || st.sid, address: st.address || '', bays: baysText(ctx, st.bays || {}),
            baysDetail: ctx.t('swap_bays_detail', { swapping: (st.bays || {}).swapping || 0,
              maintenance: (st.bays || {}).maintenance || 0 }),
            slotMinutes: ctx.t('swap_slot_length', { m: ctx.t('minutes_n', { n: st.slot_minutes }) }) },
          rules: rulesOf(ctx, st.rules), balance: f.yuan(w.balance_fen) });
        choose(keep ? keep.code : (types[0] ? types[0].code : ''), store.state.slotStart);
        return st;
      }), 'loading');
    },
    setType(code) { choose(code, store.state.slotStart); },
    setSlot(start) { choose(store.state.typeCode, Number(start)); },
    /** Book the chosen slot; resolves the booking (the page opens "my booking"). */
    book() {
      const s = store.state;
      if (!s.canBook) return Promise.resolve(undefined);
      return guarded(store, ctx.t, () => api.book(s.sid, s.typeCode, s.slotStart).then((b) => {
        store.set({ booking: b });
        return b;
      }));
    },
  };
}

const LIVE = 'booked';

function bookingView(ctx, b) {
  const feeState = b.fee_fen ? ctx.t('fee_state_' + b.fee_state) : '';
  return { id: b.booking_id, state: b.state, stateText: ctx.t('swap_state_' + b.state),
    stationName: b.station_name || b.sid, sid: b.sid, typeName: b.type_name || b.type_code,
    slot: f.dateTime(b.slot_start) + '–' + f.clock(b.until),
    fee: b.fee_fen ? f.yuan(b.fee_fen) + (feeState ? ' · ' + feeState : '') : ctx.t('reserve_free'),
    canCancel: b.state === LIVE };
}

function createSwapBooking(ctx) {
  const api = swapApi(ctx.api);
  const store = createStore({ loading: false, busy: false, error: '', errorCode: '', booking: null, view: null,
    none: false, history: [], historyEmpty: false });

  function show(b) { store.set({ booking: b, view: b ? bookingView(ctx, b) : null, none: !b }); }

  function loadHistory() {
    return api.bookings({ limit: 20 }).then((r) => {
      const list = r.bookings || [];
      store.set({ history: list.map((b) => bookingView(ctx, b)), historyEmpty: list.length === 0 });
      return list;
    });
  }

  return {
    store,
    state: store.state,
    /** The driver's live booking (or `none`) and the history. */
    open() {
      return guarded(store, ctx.t, () => Promise.all([
        api.current().then((b) => b, (err) => { if (err && err.code === 'not_found') return null; throw err; }),
        loadHistory(),
      ]).then(([b]) => { show(b); return b; }), 'loading');
    },
    cancel() {
      const b = store.state.booking;
      if (!b || b.state !== LIVE) return Promise.resolve(undefined);
      return guarded(store, ctx.t, () => api.cancel(b.booking_id).then((done) => {
        show(done);
        return loadHistory().then(() => done);
      }));
    },
  };
}

module.exports = { createSwapStations, createSwapStation, createSwapBooking, swapApi, swapStationItem, packTypeItem,
  bookingView };
