// What every page does the same way: a context over wx (wx.request, wx storage), the page's
// view model from core/, and each change of its state copied into setData as `s`, with the
// clients' words of the chosen language as `t`.
const core = require('./core/index');
const config = require('./config');

const options = { baseUrl: config.apiBase };

/** Point the pages at another cloud (the tests' locally started one). */
function configure(o) {
  Object.assign(options, o);
}

function context() {
  const ctx = core.createContext({ baseUrl: options.baseUrl, transport: core.api.wxTransport(wx), storage: core.api.wxStorage(wx) });
  // a token the API no longer takes (expired, logged out elsewhere): back to login
  ctx.api.onLoggedOut(() => wx.reLaunch({ url: '/pages/login/login' }));
  return ctx;
}

/** Create `factory` of core/pages/<name> for `page` (a Component-constructed page) and keep
 * page.data.s / page.data.t in step with it. */
function attach(page, name, factory) {
  const ctx = context();
  const vm = core.pages[name][factory](ctx);
  const push = () => page.setData({ s: vm.state, t: core.i18n.TEXT[ctx.lang()], lang: ctx.lang() });
  page._jcUnsubscribe = vm.store.subscribe(push);
  page.vm = vm;
  page.ctx = ctx;
  push();
  return vm;
}

function detach(page) {
  if (page._jcUnsubscribe) page._jcUnsubscribe();
  if (page.vm && page.vm.dispose) page.vm.dispose();
}

/** Send a driver without a token to the login page; true when logged in. */
function requireLogin(page) {
  if (page.ctx.api.loggedIn()) return true;
  wx.reLaunch({ url: '/pages/login/login' });
  return false;
}

function title(page, key) {
  wx.setNavigationBarTitle({ title: page.ctx.t(key) });
}

module.exports = { configure, attach, detach, requireLogin, title, core, options };
