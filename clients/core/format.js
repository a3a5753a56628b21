'use strict';
// Display formatting shared by the mini-program and the H5 app. Money arrives as integer fen,
// energy as Wh, prices as CNY/kWh x 10,000 (`_e4`), times as epoch ms: integers all the way,
// so a shown amount is exact to the fen (no floating-point money).

function pad2(n) {
  return (n < 10 ? '0' : '') + n;
}

/** 1234 -> "¥12.34"; -5 -> "-¥0.05"; null -> "—". */
function yuan(fen) {
  if (fen === null || fen === undefined || !Number.isFinite(fen)) return '—';
  const neg = fen < 0;
  const abs = Math.abs(Math.trunc(fen));
  const text = '¥' + Math.floor(abs / 100) + '.' + pad2(abs % 100);
  return neg ? '-' + text : text;
}

/** A yuan amount the driver typed ("12.3", "50") -> fen (1230, 5000), or null if not an amount. */
function parseYuan(text) {
  const s = String(text === undefined || text === null ? '' : text).trim();
  const m = /^(\d{1,7})(?:\.(\d{1,2}))?$/.exec(s);
  if (!m) return null;
  const frac = (m[2] || '').padEnd(2, '0');
  return Number(m[1]) * 100 + Number(frac);
}

/** 12345 Wh -> "12.35 kWh" (two decimals, rounded half up on the integer Wh). */
function kwh(wh) {
  if (wh === null || wh === undefined || !Number.isFinite(wh)) return '—';
  const neg = wh < 0;
  const abs = Math.abs(Math.trunc(wh));
  const hundredths = Math.floor((abs + 5) / 10); // Wh -> 0.01 kWh
  const text = Math.floor(hundredths / 100) + '.' + pad2(hundredths % 100) + ' kWh';
  return neg ? '-' + text : text;
}

/** 7400 W -> "7.4 kW"; 120000 -> "120 kW". */
function kw(w) {
  if (w === null || w === undefined || !Number.isFinite(w)) return '—';
  const tenths = Math.round(w / 100);
  return (tenths % 10 === 0 ? String(tenths / 10) : (tenths / 10).toFixed(1)) + ' kW';
}

/** Price e4 (CNY/kWh x 10,000) -> "¥1.2345/kWh" with trailing zeros kept to 2 places. */
function pricePerKwh(e4) {
  if (e4 === null || e4 === undefined || !Number.isFinite(e4)) return '—';
  return yuanE4(e4) + '/kWh';
}

/** An amount in CNY x 10,000 -> "¥0.0125", "¥2.00": to 0.0001 CNY, trailing zeros kept to 2 places. */
function yuanE4(e4) {
  if (e4 === null || e4 === undefined || !Number.isFinite(e4)) return '—';
  const whole = Math.floor(e4 / 10000);
  let frac = String(e4 % 10000).padStart(4, '0').replace(/0+$/, '');
  if (frac.length < 2) frac = frac.padEnd(2, '0');
  return '¥' + whole + '.' + frac;
}

/** Seconds -> "1小时05分" (zh-CN) or "1 h 05 min" (en); under a minute in seconds. */
function duration(s, lang) {
  if (s === null || s === undefined || !Number.isFinite(s) || s < 0) return '—';
  const total = Math.floor(s);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  const en = lang === 'en';
  if (h === 0 && m === 0) return en ? sec + ' s' : sec + '秒';
  if (h === 0) return en ? m + ' min' : m + '分钟';
  return en ? h + ' h ' + pad2(m) + ' min' : h + '小时' + pad2(m) + '分';
}

/** Metres -> "850 m", "1.2 km", "23 km". */
function distance(m) {
  if (m === null || m === undefined || !Number.isFinite(m) || m < 0) return '—';
  if (m < 1000) return Math.round(m) + ' m';
  if (m < 10000) return (Math.round(m / 100) / 10).toFixed(1) + ' km';
  return Math.round(m / 1000) + ' km';
}

/** Epoch ms -> "2026-12-02 14:05" in the phone's local time. */
function dateTime(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const d = new Date(ms);
  return d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + ' ' +
    pad2(d.getHours()) + ':' + pad2(d.getMinutes());
}

/** Epoch ms -> "14:05". */
function clock(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const d = new Date(ms);
  return pad2(d.getHours()) + ':' + pad2(d.getMinutes());
}

/** Seconds left -> "14:59", or "1:02:03" from an hour up (a countdown). */
function countdown(s) {
  if (s === null || s === undefined || !Number.isFinite(s) || s < 0) return '—';
  const total = Math.floor(s);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  return (h ? h + ':' + pad2(m) : String(m)) + ':' + pad2(sec);
}

module.exports = { yuan, yuanE4, parseYuan, kwh, kw, pricePerKwh, duration, distance, dateTime, clock, countdown };
