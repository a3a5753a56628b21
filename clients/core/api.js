'use strict';
// The driver API client (docs/api/cloud.openapi.yaml, base /api/v1/driver). The transport is
// injected: wx.request in the mini-program, fetch in the H5 app, so both clients send the same
// requests and read the same answers. A transport takes {method, url, headers, body(string)}
// and resolves {status, data(parsed JSON or null), etag (the ETag header, when there is one)};
// it rejects only when nothing came back.

const i18n = require('./i18n');

const TOKEN_KEY = 'jc_token';
const DRIVER_KEY = 'jc_driver';
// "wechat_oa": the token came from the official account's web authorisation (the H5 app),
// so WeChat Pay inside WeChat's browser can pay under that account's openid
const LOGIN_VIA_KEY = 'jc_login_via';
const BASE_PATH = '/api/v1/driver';

class ApiError extends Error {
  /** code: the API's stable error code (or "network_error" / "server_error" when the API did
   * not answer with one); message: the API's text in the driver's language. */
  constructor(code, message, status, body) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.body = body || null;
    this.nearest = body && body.nearest !== undefined ? body.nearest : null;
    // a start refused on a gun reserved for another driver: another free gun of that station
    this.nearestGun = body && body.nearest_gun ? body.nearest_gun : null;
  }
}

/** A key-value store over wx's storage or window.localStorage (values JSON-encoded). */
function memoryStorage() {
  const map = new Map();
  return {
    get: (k) => (map.has(k) ? map.get(k) : null),
    set: (k, v) => { map.set(k, v); },
    remove: (k) => { map.delete(k); },
  };
}

function wxStorage(wx) {
  return {
    get: (k) => { const v = wx.getStorageSync(k); return v === '' || v === undefined ? null : v; },
    set: (k, v) => wx.setStorageSync(k, v),
    remove: (k) => wx.removeStorageSync(k),
  };
}

function webStorage(ls) {
  return {
    get: (k) => { const v = ls.getItem(k); if (v === null) return null; try { return JSON.parse(v); } catch (e) { return null; } },
    set: (k, v) => ls.setItem(k, JSON.stringify(v)),
    remove: (k) => ls.removeItem(k),
  };
}

function parseJson(text) {
  if (typeof text !== 'string' || !text) return null;
  try { return JSON.parse(text); } catch (e) { return null; }
}

/** The answer a transport resolves: the ETag only when the server sent one. */
function answer(status, data, etag) {
  const out = { status, data };
  if (etag) out.etag = etag;
  return out;
}

function headerOf(headers, name) {
  if (!headers) return null;
  if (typeof headers.get === 'function') return headers.get(name);
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? null : headers[key];
}

function fetchTransport(fetchImpl) {
  return function transport(req) {
    return fetchImpl(req.url, { method: req.method, headers: req.headers, body: req.body })
      .then((resp) => resp.text().then((text) => answer(resp.status, parseJson(text), headerOf(resp.headers, 'ETag'))));
  };
}

function wxTransport(wx) {
  return function transport(req) {
    return new Promise((resolve, reject) => {
      wx.request({
        url: req.url,
        method: req.method,
        header: req.headers,
        data: req.body === undefined ? undefined : req.body,
        dataType: '其他', // not "json": parse ourselves, so a non-JSON error page does not throw
        responseType: 'text',
        success: (res) => resolve(answer(res.statusCode, typeof res.data === 'string' ? parseJson(res.data) : res.data,
          headerOf(res.header, 'ETag'))),
        fail: (err) => reject(new Error((err && err.errMsg) || 'request:fail')),
      });
    });
  };
}

function query(params) {
  const parts = [];
  Object.keys(params || {}).forEach((k) => {
    const v = params[k];
    if (v === undefined || v === null || v === '') return;
    parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(String(v)));
  });
  return parts.length ? '?' + parts.join('&') : '';
}

/**
 * createApi({baseUrl, transport, storage, getLang}) -> the driver API.
 * baseUrl: the cloud's origin ("" in the H5 app, which the cloud serves itself).
 */
function createApi(options) {
  const baseUrl = (options.baseUrl || '').replace(/\/+$/, '');
  const transport = options.transport;
  const storage = options.storage || memoryStorage();
  const getLang = options.getLang || (() => i18n.loadLang(storage));
  const now = options.now || (() => Date.now());
  const listeners = [];
  // The progress poll's last answers: path -> {etag, data, at (when it came)}. A poll sends
  // the ETag as If-None-Match; a 304 (nothing changed) is answered from here.
  const polled = new Map();
  const POLLED_MAX = 4;

  function token() { return storage.get(TOKEN_KEY); }

  function forget() {
    storage.remove(TOKEN_KEY);
    storage.remove(DRIVER_KEY);
    storage.remove(LOGIN_VIA_KEY);
    polled.clear();
    listeners.forEach((fn) => fn());
  }

  function request(method, path, body, opts) {
    const lang = getLang();
    const headers = { Accept: 'application/json', 'Accept-Language': lang === 'en' ? 'en' : 'zh-CN' };
    const tok = token();
    if (tok && !(opts && opts.anonymous)) headers.Authorization = 'Bearer ' + tok;
    if (opts && opts.ifNoneMatch) headers['If-None-Match'] = opts.ifNoneMatch;
    let payload;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    return transport({ method, url: baseUrl + BASE_PATH + path, headers, body: payload }).then(
      (res) => {
        if (opts && opts.ifNoneMatch && res.status === 304) return res;
        if (res.status >= 200 && res.status < 300) return opts && opts.whole ? res : res.data;
        const err = res.data && res.data.error;
        if (err && typeof err.code === 'string') {
          if (res.status === 401) forget();
          throw new ApiError(err.code, String(err.message || ''), res.status, err);
        }
        const code = res.status >= 500 ? 'server_error' : 'http_' + res.status;
        throw new ApiError(code, i18n.t(lang, res.status >= 500 ? 'server_error' : 'unknown_error', { code }), res.status, null);
      },
      () => { throw new ApiError('network_error', i18n.t(lang, 'network_error'), 0, null); },
    );
  }

  /** What was polled last, as it stands now: `duration_s` runs on by the clock while charging
   * (the server's tag leaves it out, docs/api/cloud.openapi.yaml). */
  function asNow(hit) {
    const d = Object.assign({}, hit.data);
    if (d.state === 'charging' && typeof d.duration_s === 'number') {
      d.duration_s += Math.max(0, Math.floor((now() - hit.at) / 1000));
    }
    return d;
  }

  /** GET with If-None-Match holding the last answer's ETag; a 304 gives that answer again. */
  function poll(path) {
    const hit = polled.get(path);
    return request('GET', path, undefined, { whole: true, ifNoneMatch: hit ? hit.etag : null }).then((res) => {
      if (res.status === 304) return asNow(hit);
      polled.delete(path);
      if (res.etag) {
        polled.set(path, { etag: res.etag, data: res.data, at: now() });
        if (polled.size > POLLED_MAX) polled.delete(polled.keys().next().value);
      }
      return res.data;
    });
  }

  const api = {
    ApiError,
    storage,
    request,
    baseUrl,
    BASE_PATH,
    token,
    loggedIn: () => Boolean(token()),
    driver: () => storage.get(DRIVER_KEY),
    loginVia: () => storage.get(LOGIN_VIA_KEY),
    onLoggedOut: (fn) => listeners.push(fn),
    forget,
    login: (code) => request('POST', '/login', { code }, { anonymous: true }).then((r) => {
      storage.set(TOKEN_KEY, r.token);
      storage.set(DRIVER_KEY, r.driver);
      return r;
    }),
    /** A token handed over by the cloud's web login (the H5 app's WeChat authorisation):
     * kept like one from `login`, then the profile fetched with it. */
    adopt: (tok) => {
      storage.set(TOKEN_KEY, tok);
      storage.set(LOGIN_VIA_KEY, 'wechat_oa');
      return request('GET', '/me').then((d) => { storage.set(DRIVER_KEY, d); return { token: tok, driver: d }; });
    },
    logout: () => request('POST', '/logout').then((r) => { forget(); return r; }, (e) => { forget(); throw e; }),
    me: () => request('GET', '/me').then((d) => { storage.set(DRIVER_KEY, d); return d; }),
    updateMe: (fields) => request('PATCH', '/me', fields).then((d) => { storage.set(DRIVER_KEY, d); return d; }),
    setPaymentPassword: (password) => request('POST', '/payment-password', { password }),
    changePaymentPassword: (oldPassword, newPassword) =>
      request('PUT', '/payment-password', { old_password: oldPassword, new_password: newPassword }),
    stations: (params) => request('GET', '/stations' + query(params)),
    recommendations: (params) => request('GET', '/recommendations' + query(params)),
    station: (sid) => request('GET', '/stations/' + encodeURIComponent(sid)),
    gun: (code) => request('GET', '/guns/' + encodeURIComponent(code)),
    startOrder: (body) => request('POST', '/orders', body),
    orders: (params) => request('GET', '/orders' + query(params)),
    currentOrder: () => request('GET', '/orders/current'),
    order: (id) => poll('/orders/' + encodeURIComponent(id)),
    stopOrder: (id) => request('POST', '/orders/' + encodeURIComponent(id) + '/stop'),
    rateOrder: (id, stars, comment) =>
      request('POST', '/orders/' + encodeURIComponent(id) + '/rating', comment ? { stars, comment } : { stars }),
    wallet: () => request('GET', '/wallet'),
    /** channel: "jsapi" (default), "oa_jsapi" or "h5" (docs/payments.md "Channels"). */
    recharge: (amountFen, channel) =>
      request('POST', '/wallet/recharges', channel ? { amount_fen: amountFen, channel } : { amount_fen: amountFen }),
    recharges: () => request('GET', '/wallet/recharges'),
    rechargeStatus: (id) => request('GET', '/wallet/recharges/' + encodeURIComponent(id)),
    refund: (body) => request('POST', '/wallet/refunds', body || {}),
    refunds: () => request('GET', '/wallet/refunds'),
    statement: (params) => request('GET', '/wallet/statement' + query(params)),
    planTrip: (body) => request('POST', '/trips/plan', body),
    // reservations of guns (docs/reservations.md)
    reservationTerms: (code, minutes) => request('GET', '/reservations/terms' + query({ gun_code: code, minutes })),
    reserve: (code, minutes) => request('POST', '/reservations', { gun_code: code, minutes }),
    reservations: (params) => request('GET', '/reservations' + query(params)),
    currentReservation: () => request('GET', '/reservations/current'),
    reservation: (id) => request('GET', '/reservations/' + encodeURIComponent(id)),
    cancelReservation: (id) => request('POST', '/reservations/' + encodeURIComponent(id) + '/cancel'),
    // a private pile's owner (docs/sharing.md)
    registerSharedPile: (gunCode, pairingCode) => request('POST', '/shared-piles', { gun_code: gunCode, pairing_code: pairingCode }),
    sharedPiles: () => request('GET', '/shared-piles'),
    setSharedPileWindows: (id, windows) => request('PUT', '/shared-piles/' + encodeURIComponent(id) + '/windows', { windows }),
    setSharedPilePrice: (id, periods) => request('PUT', '/shared-piles/' + encodeURIComponent(id) + '/price', { periods }),
    switchSharedPile: (id, open) => request('POST', '/shared-piles/' + encodeURIComponent(id) + '/open', { open }),
    sharingEarnings: () => request('GET', '/sharing/earnings'),
    sharingWithdrawals: () => request('GET', '/sharing/withdrawals'),
    /** One withdrawal; a `sending` one is asked of WeChat Pay first (after the payee confirmed it). */
    sharingWithdrawal: (id) => request('GET', '/sharing/withdrawals/' + encodeURIComponent(id)),
    /** `password`: the payment password, sent when the owner has set one (docs/sharing.md). */
    requestWithdrawal: (amountFen, password) => request('POST', '/sharing/withdrawals',
      password ? { amount_fen: amountFen, payment_password: password } : { amount_fen: amountFen }),
    // the community (docs/community.md)
    reviews: (sid, params) => request('GET', '/stations/' + encodeURIComponent(sid) + '/reviews' + query(params)),
    writeReview: (sid, body) => request('POST', '/stations/' + encodeURIComponent(sid) + '/reviews', body),
    posts: (sid, params) => request('GET', '/stations/' + encodeURIComponent(sid) + '/posts' + query(params)),
    writePost: (sid, body) => request('POST', '/stations/' + encodeURIComponent(sid) + '/posts', body),
    uploadPhoto: (base64) => request('POST', '/photos', { content_base64: base64 }),
    reportGun: (body) => request('POST', '/gun-reports', body),
    gunReports: () => request('GET', '/gun-reports'),
    gunReport: (id) => request('GET', '/gun-reports/' + encodeURIComponent(id)),
    // the driver's messages: reminders and system notices (docs/community.md)
    messages: (params) => request('GET', '/messages' + query(params)),
    messageTemplates: () => request('GET', '/message-templates'),
    messageConsents: (accepted) => request('POST', '/message-consents', { accepted }),
    // their read state (the badge's count, opening one, all up to the newest shown)
    unreadCount: () => request('GET', '/messages/unread-count'),
    readMessage: (id) => request('POST', '/messages/' + encodeURIComponent(id) + '/read'),
    readAllMessages: (upTo) => request('POST', '/messages/read-all', upTo ? { up_to: upTo } : {}),
    // the reservation-reminder lead time (minutes; 0 off; null the platform's default)
    messageSettings: () => request('GET', '/message-settings'),
    setRemindMinutes: (minutes) => request('PUT', '/message-settings', { remind_minutes: minutes }),
  };
  return api;
}

module.exports = {
  ApiError, createApi, fetchTransport, wxTransport, memoryStorage, wxStorage, webStorage,
  TOKEN_KEY, DRIVER_KEY, LOGIN_VIA_KEY, BASE_PATH, query,
};
