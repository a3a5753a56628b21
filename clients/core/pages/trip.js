'use strict';
// Trip planning (下一目的地规划): origin and destination (GCJ-02), the car and its state of
// charge → POST /trips/plan; the stops, times, cost and the road's source shown as the API
// sent them, or the API's reason when there is no plan.
const f = require('../format');
const { createStore, guarded } = require('../store');

const NUM_FIELDS = {
  originLat: [-90, 90], originLng: [-180, 180], destLat: [-90, 90], destLng: [-180, 180],
  batteryKwh: [1, 500], maxDcKw: [1, 2000], whPerKm: [50, 600], soc: [0, 100], minArrival: [0, 90], minStop: [0, 90],
};

function createTrip(ctx) {
  const store = createStore({
    busy: false, error: '', errorCode: '',
    originLat: '', originLng: '', destLat: '', destLng: '',
    batteryKwh: '60', maxDcKw: '100', whPerKm: '160', soc: '50', minArrival: '10', minStop: '10', reserve: false,
    plan: null, feasible: null, reason: '', summary: [], stops: [], road: '',
  });

  function numbers() {
    const st = store.state;
    const out = {};
    for (const key of Object.keys(NUM_FIELDS)) {
      const [lo, hi] = NUM_FIELDS[key];
      const text = String(st[key]).trim();
      const v = Number(text);
      if (text === '' || !Number.isFinite(v) || v < lo || v > hi) return { bad: key };
      out[key] = v;
    }
    return out;
  }

  /** The stop's expected wait; when the station's history says it is usually busy at the
   * arrival's hour (docs/trips.md, "Occupancy at arrival"), the text says so. */
  function waitText(s, lang) {
    if (!(s.wait_s > 0)) return '';
    const t = f.duration(s.wait_s, lang);
    if (s.occupancy_source === 'history' && s.busy_at_arrival_pct >= 50) {
      return ctx.t('trip_wait_usually_busy', { t, pct: Math.round(s.busy_at_arrival_pct) });
    }
    return ctx.t('trip_wait', { t });
  }

  function show(p) {
    const lang = ctx.lang();
    const road = ctx.t('road_' + p.road.source);
    if (!p.feasible) {
      store.set({ plan: p, feasible: false, reason: p.reason.message, stops: [], summary: [], road });
      return;
    }
    const stops = p.stops.map((s) => ({
      sid: s.sid, name: s.name, arrive: f.clock(s.arrive_at),
      soc: ctx.t('trip_soc_from_to', { from: s.arrival_soc_pct, to: s.depart_soc_pct }),
      charge: f.duration(s.charge_s, lang), wait: waitText(s, lang),
      power: s.power_kw + ' kW' + (s.load_level === 'capped' ? ' ' + ctx.t('trip_capped') : ''),
      price: f.pricePerKwh(s.price.price_e4) + ' · ' + ctx.t('period_' + s.price.period),
      cost: f.yuan(s.cost_fen), reservable: s.reservable,
    }));
    const summary = [
      [ctx.t('trip_distance'), f.distance(p.distance_m)],
      [ctx.t('trip_drive'), f.duration(p.drive_s, lang)],
      [ctx.t('trip_charge'), f.duration(p.charge_s, lang)],
      [ctx.t('trip_waiting'), f.duration(p.wait_s, lang)],
      [ctx.t('trip_total'), f.duration(p.total_s, lang)],
      [ctx.t('trip_cost'), f.yuan(p.cost_fen)],
      [ctx.t('trip_arrive'), f.clock(p.arrive_at) + ' · ' + p.arrival_soc_pct + '%'],
    ];
    store.set({ plan: p, feasible: true, reason: '', stops, summary, road });
  }

  return {
    store,
    state: store.state,
    setField(name, value) {
      if (name === 'reserve') store.set({ reserve: Boolean(value) });
      else if (NUM_FIELDS[name]) store.set({ [name]: String(value) });
    },
    /** The driver's location (GCJ-02) as the origin. */
    setOrigin(lat, lng) { store.set({ originLat: String(Number(lat).toFixed(6)), originLng: String(Number(lng).toFixed(6)) }); },
    plan() {
      const n = numbers();
      if (n.bad) {
        store.set({ error: ctx.t('trip_invalid_' + n.bad), errorCode: 'invalid_' + n.bad });
        return Promise.resolve(undefined);
      }
      const body = {
        origin: { lat: n.originLat, lng: n.originLng }, destination: { lat: n.destLat, lng: n.destLng },
        car: { battery_kwh: n.batteryKwh, max_dc_kw: n.maxDcKw, consumption: [[0, n.whPerKm]] },
        soc_pct: n.soc, min_arrival_soc_pct: n.minArrival, min_stop_soc_pct: n.minStop, reserve: store.state.reserve,
      };
      return guarded(store, ctx.t, () => ctx.api.planTrip(body).then((p) => { show(p); return p; }));
    },
  };
}

module.exports = { createTrip };
