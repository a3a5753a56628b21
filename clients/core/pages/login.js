'use strict';
// Login: a WeChat login code (wx.login in the mini-program; the OAuth redirect's `code` in the
// H5 app) exchanged for our driver token.
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
  };
}

module.exports = { createLogin };
