'use strict';
// Stations near the driver, as a list and as map markers (GCJ-02, as wx's <map> takes them).
const f = require('../format');
const { createStore, guarded } = require('../store');

function priceText(ctx, price) {
  if (!price) return '';
  return f.pricePerKwh(price.price_e4);
}

/** A station of the API's list as the pages show it. */
function stationItem(ctx, s) {
  return {
    sid: s.sid,
    name: s.name || s.sid,
    address: s.address || '',
    lat: s.lat,
    lng: s.lng,
    distance: s.distance_m === undefined || s.distance_m === null ? '' : f.distance(s.distance_m),
    online: Boolean(s.online),
    onlineText: ctx.t(s.online ? 'online' : 'offline'),
    limiting: Boolean(s.limiting),
    limitingText: s.limiting ? ctx.t('limiting') : '',
    free: ctx.t('guns_free', { free: s.guns_free || 0, total: s.guns_total || 0 }),
    hasFree: (s.guns_free || 0) > 0,
    maxPower: s.max_power_w ? f.kw(s.max_power_w) : '',
    priceNow: priceText(ctx, s.price_now),
    priceNext: s.price_next ? ctx.t('price_next', { from: f.clock(s.price_next.from) }) + ' ' + priceText(ctx, s.price_next) : '',
    // a battery-swap station (no guns): marked, and its page is the swap station's
    swap: s.kind === 'swap',
    swapText: s.kind === 'swap' && s.swap ? ctx.t('swap_finder_line', { free: s.swap.bays_free,
      total: s.swap.bays_total, ready: s.swap.packs_ready }) : '',
  };
}

/** How a station's marker looks on a map: by its free guns (offline stations have none to
 * offer, whatever their guns last said). */
const MARKER_COLORS = { free: '#0b7a4b', busy: '#d35400', offline: '#8a8f8c', swap: '#2e5fa8' };
function markerKind(s) {
  if (s.kind === 'swap') return 'swap';
  if (!s.online) return 'offline';
  return (s.guns_free || 0) > 0 ? 'free' : 'busy';
}

function markersOf(stations) {
  const out = [];
  stations.forEach((s, i) => {
    if (typeof s.lat !== 'number' || typeof s.lng !== 'number') return;
    const kind = markerKind(s);
    const sw = kind === 'swap' ? s.swap || {} : null;  // a swap station counts its free bays
    const free = sw ? sw.bays_free || 0 : s.guns_free || 0;
    const total = sw ? sw.bays_total || 0 : s.guns_total || 0;
    out.push({ id: i, sid: s.sid, latitude: s.lat, longitude: s.lng, title: s.name || s.sid, kind, color: MARKER_COLORS[kind],
      free, total,
      width: 28, height: 28, callout: { content: (s.name || s.sid) + ' ' + free + '/' + total, display: 'BYCLICK' } });
  });
  return out;
}

/** A recommendation of the API (GET /recommendations) as the pages show it: the reasons come
 * already worded in the driver's language; `effect` is "+" (for), "-" (against) or "!" (a state). */
function recommendationItem(ctx, r) {
  return {
    sid: r.sid,
    rank: r.rank,
    name: r.name || r.sid,
    gun: r.gun,
    available: Boolean(r.available),
    unavailableText: r.available ? '' : ctx.t('recommend_unavailable'),
    distance: f.distance(r.distance_m),
    price: r.price_e4 === null || r.price_e4 === undefined ? '' : f.pricePerKwh(r.price_e4),
    power: r.power_w ? f.kw(r.power_w) : '',
    reasons: (r.reasons || []).map((x, i) => ({ id: i, key: x.key, text: x.text,
      kind: x.effect === '+' ? 'pro' : (x.effect === '-' ? 'con' : 'note') })),
  };
}

function createStations(ctx) {
  const store = createStore({ loading: false, busy: false, error: '', errorCode: '', view: 'list', freeOnly: false,
    sharedOnly: false,
    center: null, stations: [], items: [], markers: [], empty: false,
    recommended: [], recommendEmpty: false, recommendNeedsLocation: false });
  function loadRecommended() {
    const c = store.state.center;
    if (!c) { store.set({ recommended: [], recommendNeedsLocation: true, recommendEmpty: false }); return Promise.resolve([]); }
    const params = { lat: c.lat.toFixed(6), lng: c.lng.toFixed(6) };
    return guarded(store, ctx.t, () => ctx.api.recommendations(params).then((r) => {
      const recs = r.recommendations || [];
      store.set({ recommended: recs.map((x) => recommendationItem(ctx, x)), recommendEmpty: recs.length === 0,
        recommendNeedsLocation: false });
      return recs;
    }), 'loading');
  }
  function load() {
    if (store.state.view === 'recommended') return loadRecommended();
    const c = store.state.center;
    const params = c ? { lat: c.lat.toFixed(6), lng: c.lng.toFixed(6) } : {};
    if (store.state.freeOnly) params.free = 1;
    if (store.state.sharedOnly) params.shared = 1;  // private piles open to others now (docs/sharing.md)
    return guarded(store, ctx.t, () => ctx.api.stations(params).then((r) => {
      const stations = r.stations || [];
      store.set({ stations, items: stations.map((s) => stationItem(ctx, s)), markers: markersOf(stations), empty: stations.length === 0 });
      return stations;
    }), 'loading');
  }
  return {
    store,
    state: store.state,
    load,
    /** The driver's position, GCJ-02 (wx.getLocation({type: "gcj02"}) or the H5's converted one). */
    setCenter(lat, lng) { store.set({ center: { lat, lng } }); return load(); },
    setView(view) {
      const v = ['map', 'recommended'].includes(view) ? view : 'list';
      const was = store.state.view;
      store.set({ view: v });
      if (v === 'recommended') return loadRecommended();
      return was === 'recommended' ? load() : Promise.resolve();
    },
    toggleFree() { store.set({ freeOnly: !store.state.freeOnly }); return load(); },
    toggleShared() { store.set({ sharedOnly: !store.state.sharedOnly }); return load(); },
    /** The station a tapped marker stands for. */
    sidOfMarker(markerId) { const m = store.state.markers.find((x) => x.id === Number(markerId)); return m ? m.sid : null; },
    /** Whether station `sid` of the list is a battery-swap station (its page is the swap one). */
    isSwap(sid) { return store.state.stations.some((x) => x.sid === sid && x.kind === 'swap'); },
  };
}

module.exports = { createStations, stationItem, recommendationItem, markersOf, markerKind, MARKER_COLORS };
