'use strict';
// Login: a WeChat login code from wx.login exchanged for our driver token (mini-program), or
// the token the cloud's web login hands the H5 app after WeChat's authorisation page.
const i18n = require('../i18n');
const { createStore, guarded } = require('../store');

function createLogin(ctx) {
  const store = createStore({ busy: false, error: '', errorCode: '', loggedIn: ctx.api.loggedIn(), driver: ctx.api.driver() });
  return {
    store,
    state: store.state,
    login(code) {
      return guarded(store, ctx.t, () => ctx.api.login(code).then((r) => {
        store.set({ loggedIn: true, driver: r.driver });
        return r;
      }));
    },
    /** The H5 app back from the web login with a token: keep it and load the profile. */
    adopt(token) {
      return guarded(store, ctx.t, () => ctx.api.adopt(token).then((r) => {
        store.set({ loggedIn: true, driver: r.driver });
        return r;
      }));
    },
    /** The H5 app back from a refused web login (`#/login?error=<code>`): its words for it. */
    showError(code) {
      const c = typeof code === 'string' && /^[a-z0-9_]{1,40}$/.test(code) ? code : 'wechat_login_failed';
      const key = 'login_error_' + c;
      store.set({ error: ctx.t(i18n.has(key) ? key : 'login_error_wechat_login_failed'), errorCode: c });
    },
  };
}

module.exports = { createLogin };
