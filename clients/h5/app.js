'use strict';
// The H5 app's page code: the same view models as the mini-program (clients/core), rendered
// with Alpine.js (cloud/h5/templates/h5/index.html). Bundled by clients/build.js.
const Alpine = require('alpinejs').default;
const core = require('../core');

const P = core.pages;
const storage = core.api.webStorage(window.localStorage);
const ctx = core.createContext({ baseUrl: '', transport: core.api.fetchTransport(window.fetch.bind(window)), storage });

const FACTORIES = {
  login: P.login.createLogin, stations: P.stations.createStations, station: P.station.createStation,
  scan: P.scan.createScan, charging: P.charging.createCharging, order: P.order.createOrder,
  wallet: P.wallet.createWallet, records: P.records.createRecords, settings: P.settings.createSettings,
  reservation: P.reservation.createReservation,
};
const OPEN_ROUTES = ['login'];

/** "#/station/S1?x=1" -> {name: "station", arg: "S1", query: {x: "1"}} */
function parseHash(hash) {
  const h = (hash || '').replace(/^#\/?/, '');
  const [pathPart, queryPart] = h.split('?');
  const [name, arg] = pathPart.split('/');
  const query = {};
  new URLSearchParams(queryPart || '').forEach((v, k) => { query[k] = v; });
  return { name: FACTORIES[name] ? name : 'stations', arg: arg ? decodeURIComponent(arg) : null, query };
}

function go(hash) {
  if (window.location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else window.location.hash = hash;
}

/** Project GCJ-02 points into a 300x300 box (the list's plain "map": no map SDK is loaded). */
function plot(center, stations) {
  const pts = stations.filter((s) => typeof s.lat === 'number' && typeof s.lng === 'number');
  const all = pts.map((s) => [s.lat, s.lng]).concat(center ? [[center.lat, center.lng]] : []);
  if (!all.length) return { dots: [], me: null };
  const lats = all.map((p) => p[0]);
  const lngs = all.map((p) => p[1]);
  const [la0, la1, ln0, ln1] = [Math.min(...lats), Math.max(...lats), Math.min(...lngs), Math.max(...lngs)];
  const span = Math.max(la1 - la0, ln1 - ln0, 0.002);
  const xy = (lat, lng) => ({ x: 20 + ((lng - ln0) / span) * 260, y: 280 - ((lat - la0) / span) * 260 });
  return {
    dots: pts.map((s) => Object.assign({ sid: s.sid, name: s.name || s.sid, free: (s.guns_free || 0) > 0 }, xy(s.lat, s.lng))),
    me: center ? xy(center.lat, center.lng) : null,
  };
}

Alpine.data('jcApp', () => ({
  lang: ctx.lang(),
  t: core.i18n.TEXT[ctx.lang()],
  route: 'stations',
  arg: null,
  s: {},
  plotted: { dots: [], me: null },
  codeInput: '',
  cashier: document.documentElement.dataset.cashier || '',
  init() {
    document.documentElement.lang = this.lang;
    document.title = this.t.app_name;
    this.vms = {};
    ctx.api.onLoggedOut(() => go('#/login'));
    const url = new URL(window.location.href);
    const code = url.searchParams.get('code');
    if (/\/scan\/?$/.test(url.pathname) && url.searchParams.get('g')) {
      // a gun's QR code: https://<host>/app/scan?g=<code>
      history.replaceState(null, '', url.pathname.replace(/scan\/?$/, '') + '#/scan?g=' + encodeURIComponent(url.searchParams.get('g')));
    }
    window.addEventListener('hashchange', () => this.show());
    if (code) {
      // back from the WeChat authorisation with a login code: exchange it once, drop it from the URL
      const next = url.searchParams.get('next') || '#/stations';
      history.replaceState(null, '', url.pathname + (next.charAt(0) === '#' ? next : '#/stations'));
      this.vm('login').login(code).then(() => this.show());
      this.route = 'login';
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
        if (name === 'stations') this.plotted = plot(state.center, state.stations);
      });
      this.vms[name] = vm;
    }
    return this.vms[name];
  },
  show() {
    const r = parseHash(window.location.hash);
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
      case 'wallet': vm.load(); break;
      case 'records': vm.load(); break;
      case 'settings': vm.load(); break;
      // ?g=<code>: reserve that gun; without: the driver's reservation
      case 'reservation': if (r.query.g) vm.load(r.query.g); else vm.openCurrent(); break;
      default: break;
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
  go,
  loginUrl() { return 'login/wechat?next=' + encodeURIComponent(window.location.hash || '#/stations'); },
  switchLang() {
    ctx.setLang(this.lang === 'en' ? 'zh-CN' : 'en');
    // every page's words (and the API's messages) follow; the choice is kept in localStorage
    window.location.reload();
  },
  // page actions the template calls
  startCharge() {
    return this.vms.scan.start().then((order) => {
      if (!order) return;
      const charging = '#/charging/' + encodeURIComponent(order.order_id);
      if (!order.pay_params) { go(charging); return; }
      // pay-per-session: the session starts once the payment is confirmed
      this.pay(order.pay_params, charging, (ok) => {
        if (ok) go(charging);
        else this.vms.scan.store.set({ error: this.t.pay_cancelled, errorCode: 'pay_cancelled' });
      });
    });
  },
  /** Pay with the parameters the cloud signed: WeChat's payment sheet inside WeChat's browser,
   * the fake's cashier page in the demo; `back` is where the cashier returns to. */
  pay(params, back, done) {
    if (window.WeixinJSBridge) {
      window.WeixinJSBridge.invoke('getBrandWCPayRequest', params, (res) => done(res.err_msg === 'get_brand_wcpay_request:ok'));
    } else if (this.cashier) {
      const returnUrl = window.location.origin + window.location.pathname + back;
      window.location.href = this.cashier + '?' + new URLSearchParams(Object.assign({}, params, { return_url: returnUrl, lang: this.lang })).toString();
    } else {
      done(false);
    }
  },
  watchCharging() {
    const s = this.s.charging;
    if (s && s.done && s.order && this.route === 'charging') go('#/order/' + encodeURIComponent(s.order.order_id));
  },
  recharge() {
    return this.vms.wallet.recharge().then((r) => {
      if (r) this.pay(r.pay_params, '#/wallet', (ok) => this.vms.wallet.paid(ok));
    });
  },
  logout() { return this.vms.settings.logout().then(() => go('#/login')); },
}));

window.Alpine = Alpine;
Alpine.start();
module.exports = { parseHash, plot };
