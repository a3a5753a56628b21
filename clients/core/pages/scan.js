'use strict';
// Scan a gun's QR code, choose how to charge, start. The QR holds
// `https://<host>/app/scan?g=<code>` or the bare code.
const f = require('../format');
const { createStore, errorText } = require('../store');
const { stationItem } = require('./stations');

const DEFAULT_PRESETS = [3000, 5000, 10000];
const CODE_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const MODES = ['amount', 'energy', 'time', 'full'];
// from the wallet, or this one session prepaid through WeChat Pay (what it does not use is
// refunded by the cloud)
const PAYS = ['wallet', 'wechat'];
const MIN_AMOUNT_FEN = 100;

/** The gun code in what the scanner read, or null. */
function parseGunCode(text) {
  const s = String(text || '').trim();
  const m = /[?&]g=([^&#]+)/.exec(s);
  let code = s;
  if (m) {
    try { code = decodeURIComponent(m[1]); } catch (e) { return null; }
  } else if (/^https?:/i.test(s)) {
    return null;
  }
  return CODE_RE.test(code) ? code : null;
}

/** The order's limit from the driver's choice, or {error: i18n key}. */
function limitOf(state) {
  if (state.mode === 'full') return { limit: { mode: 'full', value: 0 } };
  if (state.mode === 'amount') {
    const fen = state.customAmount !== '' ? f.parseYuan(state.customAmount) : state.amountFen;
    if (fen === null) return { error: 'invalid_amount' };
    if (!fen) return { error: 'choose_value' };
    if (fen < MIN_AMOUNT_FEN) return { error: 'amount_too_small' };
    return { limit: { mode: 'amount', value: fen } };
  }
  const raw = state.mode === 'energy' ? state.energyKwh : state.timeMin;
  const s = String(raw === undefined || raw === null ? '' : raw).trim();
  if (s === '') return { error: 'choose_value' };
  if (state.mode === 'energy') {
    const m = /^(\d{1,4})(?:\.(\d{1,3}))?$/.exec(s);
    if (!m) return { error: 'invalid_value' };
    const wh = Number(m[1]) * 1000 + Number((m[2] || '').padEnd(3, '0'));
    return wh > 0 ? { limit: { mode: 'energy', value: wh } } : { error: 'invalid_value' };
  }
  if (!/^\d{1,4}$/.test(s) || Number(s) <= 0) return { error: 'invalid_value' };
  return { limit: { mode: 'time', value: Number(s) * 60 } }; // durations cross the API in seconds
}

/** "Charge until departure" (orderly charging): the departure as epoch ms from "HH:MM"
 * — the next such time of day on the phone's clock after `nowMs` — or null when none is
 * given, or {error: i18n key}. */
function departureOf(text, nowMs) {
  const s = String(text === undefined || text === null ? '' : text).trim();
  if (s === '') return null;
  const m = /^([01]?\d|2[0-3])[:：]([0-5]\d)$/.exec(s);
  if (!m) return { error: 'invalid_departure' };
  const d = new Date(nowMs);
  d.setHours(Number(m[1]), Number(m[2]), 0, 0);
  if (d.getTime() <= nowMs) d.setDate(d.getDate() + 1); // 07:30 at night means tomorrow morning
  return d.getTime();
}

/** Whether the API will want the payment password for this start (it is asked for at start
 * when set; with a threshold, only above it). */
function passwordNeeded(info, limit, pay) {
  if (pay === 'wechat') return false; // WeChat Pay asks for its own password
  if (!info || !info.payment_password_set) return false;
  const above = info.payment_password_required_above_fen;
  if (above === null || above === undefined) return true;
  return limit.mode !== 'amount' || limit.value > above;
}

function createScan(ctx) {
  const store = createStore({ busy: false, loading: false, error: '', errorCode: '', code: '', info: null, view: null,
    mode: 'amount', modes: MODES.map((m) => ({ mode: m, label: ctx.t('mode_' + m) })), presets: [], amountFen: DEFAULT_PRESETS[0],
    pay: 'wallet', pays: PAYS.map((p) => ({ pay: p, label: ctx.t('pay_' + p) })),
    customAmount: '', energyKwh: '', timeMin: '', departure: '', askPassword: false, password: '', nearest: null, nearestText: '',
    nearestGun: null, nearestGunText: '', order: null });

  function viewOf(info) {
    const w = info.wallet || {};
    return {
      stationName: info.station.name || info.station.sid,
      address: info.station.address || '',
      gunName: info.gun.name || info.gun.gun,
      gunState: info.gun.state,
      balance: f.yuan(w.balance_fen),
      debt: w.debt_fen ? f.yuan(w.debt_fen) : '',
      priceNow: info.price_now ? f.pricePerKwh(info.price_now.price_e4) : '',
      priceNext: info.price_next ? ctx.t('price_next', { from: f.clock(info.price_next.from) }) + ' ' + f.pricePerKwh(info.price_next.price_e4) : '',
      energyForBalance: info.energy_wh_for_balance !== undefined && info.energy_wh_for_balance !== null
        ? ctx.t('energy_for_balance', { kwh: f.kwh(info.energy_wh_for_balance) }) : '',
      limiting: Boolean(info.station.limiting),
      limitingText: info.station.limiting ? ctx.t('limiting') : '',
      online: Boolean(info.station.online),
    };
  }

  function fail(err) {
    const nearest = err && err.nearest ? stationItem(ctx, err.nearest) : null;
    // a gun reserved for another driver: another free gun of the same station first
    const nearestGun = err && err.nearestGun ? err.nearestGun : null;
    store.set({ busy: false, error: errorText(err, ctx.t), errorCode: (err && err.code) || '', nearest,
      nearestText: nearest ? ctx.t('nearest_station', { name: nearest.name, distance: nearest.distance || '—' }) : '',
      nearestGun, nearestGunText: nearestGun ? ctx.t('use_other_gun', { name: nearestGun.name || nearestGun.gun }) : '' });
    return undefined;
  }

  const vm = {
    store,
    state: store.state,
    parseGunCode,
    lookup(text) {
      const code = parseGunCode(text);
      if (!code) {
        store.set({ error: ctx.t('unknown_error', { code: 'gun_code' }), errorCode: 'gun_code' });
        return Promise.resolve(undefined);
      }
      store.set({ loading: true, code, error: '', errorCode: '', nearest: null, nearestText: '', nearestGun: null,
        nearestGunText: '', info: null, view: null });
      return ctx.api.gun(code).then((info) => {
        const presets = (info.presets_fen && info.presets_fen.length ? info.presets_fen : DEFAULT_PRESETS)
          .map((fen) => ({ fen, label: f.yuan(fen).replace(/\.00$/, '') }));
        store.set({ loading: false, info, view: viewOf(info), presets, amountFen: presets[0].fen, customAmount: '' });
        return info;
      }, (err) => { store.set({ loading: false }); return fail(err); });
    },
    setMode(mode) { if (MODES.indexOf(mode) >= 0) store.set({ mode, error: '', errorCode: '' }); },
    choosePreset(fen) { store.set({ mode: 'amount', amountFen: Number(fen), customAmount: '', error: '' }); },
    setCustomAmount(text) { store.set({ customAmount: String(text), error: '' }); },
    setEnergy(text) { store.set({ energyKwh: String(text), error: '' }); },
    setTime(text) { store.set({ timeMin: String(text), error: '' }); },
    setDeparture(text) { store.set({ departure: String(text), error: '' }); },
    setPassword(text) { store.set({ password: String(text) }); },
    setPay(pay) { if (PAYS.indexOf(pay) >= 0) store.set({ pay, askPassword: pay === 'wallet' && store.state.askPassword }); },
    limit() { return limitOf(store.state); },
    /** Start the order: resolves it (the shell then opens the charging page, after paying
     * with its pay_params when the driver chose WeChat Pay) or undefined
     * with state.error, state.errorCode and, where the API gave one, state.nearest.
     * `payChannel` (WeChat Pay only): how the shell pays — "jsapi" (the mini-program, the
     * default), "oa_jsapi" (the H5 app in WeChat's browser) or "h5" (any other phone browser). */
    start(payChannel) {
      const st = store.state;
      const chosen = limitOf(st);
      if (chosen.error) { store.set({ error: ctx.t(chosen.error), errorCode: chosen.error }); return Promise.resolve(undefined); }
      if (passwordNeeded(st.info, chosen.limit, st.pay) && !st.password) {
        store.set({ askPassword: true, error: '', errorCode: '' });
        return Promise.resolve(undefined);
      }
      const departure = st.mode === 'energy' ? departureOf(st.departure, ctx.now()) : null;
      if (departure && departure.error) {
        store.set({ error: ctx.t(departure.error), errorCode: departure.error });
        return Promise.resolve(undefined);
      }
      const body = { gun_code: st.code, limit: chosen.limit, pay: st.pay };
      if (departure) body.departure_at = departure;
      if (st.password && st.pay === 'wallet') body.payment_password = st.password;
      if (st.pay === 'wechat' && payChannel) body.pay_channel = payChannel;
      store.set({ busy: true, error: '', errorCode: '', nearest: null, nearestText: '', nearestGun: null, nearestGunText: '' });
      return ctx.api.startOrder(body).then((order) => {
        store.set({ busy: false, order, askPassword: false, password: '' });
        return order;
      }, (err) => {
        if (err && err.code === 'payment_password_required') store.set({ askPassword: true });
        if (err && /^payment_password_wrong/.test(err.code || '')) store.set({ password: '' });
        return fail(err);
      });
    },
  };
  return vm;
}

module.exports = { createScan, parseGunCode, limitOf, departureOf, passwordNeeded, DEFAULT_PRESETS };
