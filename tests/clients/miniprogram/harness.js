'use strict';
// Runs the real mini-program pages (miniprogram/pages/*) in WeChat's component test tooling
// (miniprogram-simulate over j-component, WXML compiled by WeChat's own compiler) against a
// running cloud. The wx APIs the pages call that leave the phone are real here as well:
// wx.request is an HTTP request to the cloud, wx.login asks the fake WeChat (cloud/fakes) for
// a login code, wx.requestPayment pays at the fake, wx.requestMerchantTransfer confirms a
// transfer there. Storage, location and navigation are the
// phone's, kept in memory and recorded.
const path = require('path');
const { JSDOM } = require('jsdom');

const dom = new JSDOM('<!doctype html><html><body></body></html>', { pretendToBeVisual: true });
for (const k of ['window', 'document', 'Node', 'Element', 'HTMLElement', 'Event', 'CustomEvent', 'MutationObserver', 'getComputedStyle']) {
  Object.defineProperty(global, k, { value: k === 'window' ? dom.window : dom.window[k], configurable: true, writable: true });
}

const API = process.env.JC_API_BASE;
const WECHAT = process.env.JC_WECHAT_BASE;
if (!API || !WECHAT) throw new Error('JC_API_BASE and JC_WECHAT_BASE must name the running cloud and fake WeChat');

const phone = { storage: new Map(), user: 'driver-' + process.pid, location: null, scanResult: null, navigations: [], titles: [], payments: [],
  transfers: [], transferAction: null };

function post(url, body) {
  return fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
    .then((r) => r.json().then((data) => ({ status: r.status, data })));
}

global.wx = {
  request(o) {
    fetch(o.url, { method: o.method || 'GET', headers: o.header, body: o.data })
      .then((r) => r.text().then((text) => o.success && o.success({ statusCode: r.status, data: text, header: Object.fromEntries(r.headers) })))
      .catch((e) => o.fail && o.fail({ errMsg: 'request:fail ' + e.message }));
  },
  login(o) {
    post(WECHAT + '/fake/wx/login', { user: phone.user }).then((r) => o.success({ code: r.data.code, errMsg: 'login:ok' }), () => o.fail({ errMsg: 'login:fail' }));
  },
  requestPayment(o) {
    const params = { timeStamp: o.timeStamp, nonceStr: o.nonceStr, package: o.package, signType: o.signType, paySign: o.paySign, appId: o.appId };
    phone.payments.push(params);
    post(WECHAT + '/fake/request-payment', params).then((r) => (r.status === 200 ? o.success(r.data) : o.fail(r.data)));
  },
  // the payee's WeChat confirming a transfer: the fake checks the parameters and that the
  // phone's user is the payee, then reports the bill SUCCESS
  requestMerchantTransfer(o) {
    const params = { mchId: o.mchId, appId: o.appId, package: o.package };
    phone.transfers.push(params);
    const body = Object.assign({ user: phone.user }, params, phone.transferAction ? { action: phone.transferAction } : {});
    post(WECHAT + '/fake/request-merchant-transfer', body).then((r) => (r.status === 200 ? o.success(r.data) : o.fail(r.data)));
  },
  canIUse: (name) => typeof global.wx[name] === 'function',
  getStorageSync: (k) => (phone.storage.has(k) ? phone.storage.get(k) : ''),
  setStorageSync: (k, v) => { phone.storage.set(k, v); },
  removeStorageSync: (k) => { phone.storage.delete(k); },
  getLocation(o) {
    if (phone.location) o.success(Object.assign({ errMsg: 'getLocation:ok' }, phone.location));
    else o.fail({ errMsg: 'getLocation:fail auth deny' });
  },
  scanCode(o) { if (phone.scanResult) o.success({ result: phone.scanResult }); else o.fail({ errMsg: 'scanCode:fail cancel' }); },
  navigateTo(o) { phone.navigations.push(['navigateTo', o.url]); },
  redirectTo(o) { phone.navigations.push(['redirectTo', o.url]); },
  switchTab(o) { phone.navigations.push(['switchTab', o.url]); },
  reLaunch(o) { phone.navigations.push(['reLaunch', o.url]); },
  setNavigationBarTitle(o) { phone.titles.push(o.title); },
  setTabBarItem() {},
  stopPullDownRefresh() {},
  openLocation() {},
};

const simulate = require('miniprogram-simulate');
const ROOT = path.resolve(__dirname, '..', '..', '..', 'miniprogram');
const shell = require(path.join(ROOT, 'shell.js'));
shell.configure({ baseUrl: API });

/** Render miniprogram/pages/<name>/<name> and attach it, as the runtime shows a page. */
function page(name) {
  const id = simulate.load(path.join(ROOT, 'pages', name, name), { rootPath: ROOT });
  const comp = simulate.render(id);
  comp.attach(document.createElement('parent-wrapper'));
  return comp;
}

function text(comp, selector) {
  const found = comp.querySelector(selector);
  return found ? found.dom.textContent.trim() : null;
}

function texts(comp, selector) {
  return comp.querySelectorAll(selector).map((c) => c.dom.textContent.trim());
}

/** Log this phone's user in through the API (as the login page does), for pages behind it. */
async function loggedIn(user) {
  if (user) phone.user = user;
  const code = (await post(WECHAT + '/fake/wx/login', { user: phone.user })).data.code;
  const r = await post(API + '/api/v1/driver/login', { code });
  if (r.status !== 200 && r.status !== 201) throw new Error('login failed: ' + JSON.stringify(r.data));
  phone.storage.set('jc_token', r.data.token);
  return r.data;
}

module.exports = { simulate, page, text, texts, phone, loggedIn, API, WECHAT, shell };
