'use strict';
// The H5 app's page code: the same view models as the mini-program (clients/core), rendered
// with Alpine.js (cloud/h5/templates/h5/index.html). Bundled by clients/build.js.
const Alpine = require('alpinejs').default;
const L = require('leaflet');
require('leaflet/dist/leaflet.css');
const core = require('../core');
const community = require('./community');
const swap = require('./swap');

const P = core.pages;
const storage = core.api.webStorage(window.localStorage);
const ctx = core.createContext({ baseUrl: '', transport: core.api.fetchTransport(window.fetch.bind(window)), storage });

const FACTORIES = {
  login: P.login.createLogin, stations: P.stations.createStations, station: P.station.createStation,
  scan: P.scan.createScan, charging: P.charging.createCharging, order: P.order.createOrder,
  wallet: P.wallet.createWallet, records: P.records.createRecords, settings: P.settings.createSettings,
  trip: P.trip.createTrip,
  reservation: P.reservation.createReservation,
  ...community.FACTORIES,
  ...swap.FACTORIES,
  pile: P.pile.createPile,
};
const OPEN_ROUTES = ['login'];

/** How this browser pays with WeChat Pay: inside WeChat's browser, logged in through the
 * official account, WeChat's own payment sheet (JSAPI under the account's openid);
 * anywhere else WeChat Pay's H5 page. */
function payChannel() {
  const inWechat = /MicroMessenger/i.test(window.navigator.userAgent || '');
  return inWechat && ctx.api.loginVia() === 'wechat_oa' ? 'oa_jsapi' : 'h5';
}

/** WeChat's bridge, once its page script has made it (WeixinJSBridgeReady), or null. */
function withBridge(fn) {
  if (window.WeixinJSBridge) { fn(window.WeixinJSBridge); return; }
  let done = false;
  const ready = () => { if (!done) { done = true; fn(window.WeixinJSBridge || null); } };
  document.addEventListener('WeixinJSBridgeReady', ready, { once: true });
  setTimeout(ready, 5000);
}

/** "#/station/S1?x=1" -> {name: "station", arg: "S1", query: {x: "1"}} */
function parseHash(hash) {
  const h = (hash || '').replace(/^#\/?/, '');
  const [pathPart, queryPart] = h.split('?');
  const [name, arg] = pathPart.split('/');
  const query = {};
  new URLSearchParams(queryPart || '').forEach((v, k) => { query[k] = v; });
  return { name: FACTORIES[name] ? name : 'stations', arg: arg ? decodeURIComponent(arg) : null, query };
}

// set when this tab leaves for the web login (markLogin), taken once when it comes back
const LOGIN_MARK = 'jc_web_login';

function takeLoginMark() {
  try {
    const begun = sessionStorage.getItem(LOGIN_MARK) === '1';
    sessionStorage.removeItem(LOGIN_MARK);
    return begun;
  } catch (e) {
    return false;
  }
}

function go(hash) {
  if (window.location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else window.location.hash = hash;
}

/** The stations' map: Leaflet over the tile layer the cloud configures (H5_MAP_TILE_URL,
 * default AMap's GCJ-02 tiles, which match the API's GCJ-02 coordinates as they are). Without
 * a tile URL, or offline, the markers still show on a plain background; with tiles, their
 * provider's credit (H5_MAP_TILE_ATTRIBUTION, cloud/maptiles.py) in the corner. One map per element:
 * the stations page's element is made anew each time the page opens. */
function createStationMap(el, opts) {
  const map = L.map(el, { zoomControl: true, attributionControl: Boolean(opts.tiles) });
  if (opts.tiles) {
    L.tileLayer(opts.tiles, { subdomains: opts.subdomains || 'abc', maxZoom: 18, minZoom: 3,
      attribution: opts.attribution || '' }).addTo(map);
  }
  const layer = L.layerGroup().addTo(map);
  map.setView([31.23, 121.47], 11);
  return {
    map,
    draw(markers, center, onPick, words) {
      layer.clearLayers();
      const pts = [];
      markers.forEach((m) => {
        const ll = [m.latitude, m.longitude];
        pts.push(ll);
        L.circleMarker(ll, { radius: 11, weight: 2, color: '#ffffff', fillColor: m.color, fillOpacity: 0.95,
          className: 'jc-marker jc-marker-' + m.kind })
          .bindTooltip(m.title + ' · ' + m.free + '/' + m.total + ' ' + words[m.kind], { direction: 'top', offset: [0, -8] })
          .on('click', () => onPick(m.sid, m.kind))
          .addTo(layer);
      });
      if (center) {
        pts.push([center.lat, center.lng]);
        L.circleMarker([center.lat, center.lng], { radius: 6, weight: 2, color: '#ffffff', fillColor: '#2e86de',
          fillOpacity: 1, className: 'jc-me', interactive: false }).addTo(layer);
      }
      map.invalidateSize();
      if (pts.length === 1) map.setView(pts[0], 15);
      else if (pts.length > 1) map.fitBounds(L.latLngBounds(pts), { padding: [30, 30], maxZoom: 16 });
    },
  };
}

Alpine.data('jcApp', () => ({
  lang: ctx.lang(),
  t: core.i18n.TEXT[ctx.lang()],
  route: 'stations',
  arg: null,
  s: {},
  codeInput: '',
  pileForm: { gun: '', code: '', start: '08:00', end: '22:00', energy: '', service: '', amount: '' },
  init() {
    document.documentElement.lang = this.lang;
    document.title = this.t.app_name;
    this.vms = {};
    ctx.api.onLoggedOut(() => go('#/login'));
    const url = new URL(window.location.href);
    if (/\/scan\/?$/.test(url.pathname) && url.searchParams.get('g')) {
      // a gun's QR code: https://<host>/app/scan?g=<code>
      history.replaceState(null, '', url.pathname.replace(/scan\/?$/, '') + '#/scan?g=' + encodeURIComponent(url.searchParams.get('g')));
    }
    window.addEventListener('hashchange', () => this.show());
    if (/^#jc_login=/.test(url.hash)) {
      // back from the cloud's web login with our token in the fragment (never sent to a
      // server): keep it, drop it from the address and the history at once
      const got = new URLSearchParams(url.hash.slice(1));
      const next = got.get('next') || '#/stations';
      history.replaceState(null, '', url.pathname + (/^#\/[^/]/.test(next) ? next : '#/stations'));
      // only a login this tab began: a link carrying someone else's token must not put this
      // browser in their account (whose wallet the driver would then top up)
      if (!takeLoginMark()) {
        this.show();
        return;
      }
      this.route = 'login';
      this.vm('login').adopt(got.get('jc_login') || '').then(() => this.show());
      return;
    }
    this.show();
  },
  vm(name) {
    if (!this.vms[name]) {
      const vm = FACTORIES[name](ctx);
      this.s[name] = Object.assign({}, vm.state);
      vm.store.subscribe((state) => {
        this.s[name] = Object.assign({}, state);
      });
      this.vms[name] = vm;
    }
    return this.vms[name];
  },
  show() {
    const r = parseHash(window.location.hash);
    if (r.name === 'login' && r.query.error) {
      // a web login WeChat or the cloud refused: its words on the login page
      this.route = 'login';
      this.vm('login').showError(r.query.error);
      return;
    }
    if (!ctx.api.loggedIn() && OPEN_ROUTES.indexOf(r.name) < 0) {
      this.route = 'login';
      this.vm('login');
      return;
    }
    if (this.vms.charging && r.name !== 'charging') this.vms.charging.dispose();
    if (this.vms.reservation && r.name !== 'reservation') this.vms.reservation.dispose();
    this.route = r.name;
    this.arg = r.arg;
    const vm = this.vm(r.name);
    window.scrollTo(0, 0);
    switch (r.name) {
      case 'stations': this.locate(vm); break;
      case 'station': vm.load(r.arg); break;
      case 'scan': if (r.query.g) vm.lookup(r.query.g); break;
      case 'charging': vm.open(r.arg); break;
      case 'order': vm.load(r.arg); break;
      case 'wallet':
        if (r.query.paid) vm.confirm(r.query.paid); else vm.load();
        this.vm('settings').loadUnread(); // the badge on its "my messages" link
        break;
      case 'records': vm.load(); break;
      case 'settings': vm.load(); vm.loadMessages(); break;
      case 'trip': if (!vm.state.originLat) this.here(vm); break;
      // ?g=<code>: reserve that gun; without: the driver's reservation
      case 'reservation': if (r.query.g) vm.load(r.query.g); else vm.openCurrent(); break;
      case 'pile': vm.load(); break;
      default:
        if (swap.FACTORIES[r.name]) swap.show(r, vm, (v) => this.locate(v));
        else community.show(r, vm);
        break;
    }
  },
  locate(vm) {
    if (vm.state.stations.length) return vm.load();
    if (!navigator.geolocation) return vm.load();
    let done = false;
    const fallback = () => { if (!done) { done = true; vm.load(); } };
    setTimeout(fallback, 4000);
    // a browser gives WGS-84; the API speaks GCJ-02
    navigator.geolocation.getCurrentPosition((p) => {
      if (done) return;
      done = true;
      const g = core.geo.wgs84ToGcj02(p.coords.latitude, p.coords.longitude);
      vm.setCenter(g.lat, g.lng);
    }, fallback, { timeout: 3500, maximumAge: 60000 });
    return undefined;
  },
  /** The browser's location (WGS-84) as the trip's origin, in GCJ-02 as the API takes it. */
  here(vm) {
    if (!navigator.geolocation) return;
    navigator.geolocation.getCurrentPosition((p) => {
      const g = core.geo.wgs84ToGcj02(p.coords.latitude, p.coords.longitude);
      vm.setOrigin(g.lat, g.lng);
    }, () => {}, { timeout: 3500, maximumAge: 60000 });
  },
  /** Draw the stations on the map element (x-effect: again whenever they change). */
  drawMap(el) {
    const st = this.s.stations;
    if (!st || st.view !== 'map') return;
    const markers = st.markers;
    const center = st.center;
    const words = { free: this.t.map_free, busy: this.t.map_busy, offline: this.t.map_offline, swap: this.t.map_swap };
    // after x-show has made the element visible: Leaflet measures it
    this.$nextTick(() => {
      if (!el.jcMap) {
        el.jcMap = createStationMap(el, { tiles: document.documentElement.dataset.tiles || '',
          attribution: document.documentElement.dataset.attribution || '',
          subdomains: document.documentElement.dataset.subdomains || '' });
      }
      el.jcMap.draw(markers, center, (sid, kind) => go(swap.stationHash(sid, kind)), words);
    });
  },
  go,
  ...community.methods,
  stationHash: swap.stationHash,
  markLogin() {
    try {
      sessionStorage.setItem(LOGIN_MARK, '1');
    } catch (e) {
      // no session storage: the token that comes back is not taken, the login page stays
    }
  },
  loginUrl() {
    const here = window.location.hash || '';
    return 'login/wechat?next=' + encodeURIComponent(/^#\/login/.test(here) || !here ? '#/stations' : here);
  },
  switchLang() {
    ctx.setLang(this.lang === 'en' ? 'zh-CN' : 'en');
    // every page's words (and the API's messages) follow; the choice is kept in localStorage
    window.location.reload();
  },
  // page actions the template calls
  startCharge() {
    return this.vms.scan.start(payChannel()).then((order) => {
      if (!order) return;
      const charging = '#/charging/' + encodeURIComponent(order.order_id);
      if (!order.pay_params && !order.h5_url) { go(charging); return; }
      // pay-per-session: the session starts once the payment is confirmed (the charging page
      // follows the order's own state, whichever way the browser comes back)
      this.pay(order, charging, (ok) => {
        if (ok) go(charging);
        else this.vms.scan.store.set({ error: this.t.pay_cancelled, errorCode: 'pay_cancelled' });
      });
    });
  },
  /** Pay what the cloud opened (`how`: a recharge or a prepaid order): inside WeChat's
   * browser WeChat's payment sheet with the parameters the cloud signed; elsewhere WeChat
   * Pay's H5 page (h5_url), which sends the browser back to `back` (an app route) after. */
  pay(how, back, done) {
    if (how.h5_url) {
      const returnUrl = window.location.origin + window.location.pathname + back;
      window.location.href = how.h5_url + (how.h5_url.indexOf('?') >= 0 ? '&' : '?') + 'redirect_url=' + encodeURIComponent(returnUrl);
      return;
    }
    withBridge((bridge) => {
      if (!bridge) { done(false); return; }
      bridge.invoke('getBrandWCPayRequest', how.pay_params, (res) => done(Boolean(res) && res.err_msg === 'get_brand_wcpay_request:ok'));
    });
  },
  watchCharging() {
    const s = this.s.charging;
    if (s && s.done && s.order && this.route === 'charging') go('#/order/' + encodeURIComponent(s.order.order_id));
  },
  recharge() {
    const wallet = this.vms.wallet;
    return wallet.recharge(payChannel()).then((r) => {
      if (!r) return;
      // back on the wallet with ?paid=<id>: the wallet asks the cloud how the recharge ended
      this.pay(r, '#/wallet?paid=' + encodeURIComponent(r.recharge_id), (ok) => {
        if (ok) wallet.confirm(r.recharge_id);
        else wallet.paid(false);
      });
    });
  },
  logout() { return this.vms.settings.logout().then(() => go('#/login')); },
}));

window.Alpine = Alpine;
Alpine.start();
module.exports = { parseHash, payChannel };
