'use strict';
// Settings: nickname, phone, payment password (set or change), language, log out.
const i18n = require('../i18n');
const { createStore, guarded } = require('../store');

function createSettings(ctx) {
  const store = createStore({ loading: false, busy: false, error: '', errorCode: '', notice: '', me: null,
    nickname: '', phone: '', hasPassword: false, oldPassword: '', newPassword: '', lang: ctx.lang(),
    langs: i18n.LANGS.map((l) => ({ lang: l, label: i18n.t(l, 'lang_name') })), loggedOut: false });
  function show(me) {
    store.set({ me, nickname: me.nickname || '', phone: me.phone || '', hasPassword: Boolean(me.has_payment_password) });
  }
  return {
    store,
    state: store.state,
    load() { return guarded(store, ctx.t, () => ctx.api.me().then((me) => { show(me); return me; }), 'loading'); },
    setField(name, value) { if (['nickname', 'phone', 'oldPassword', 'newPassword'].indexOf(name) >= 0) store.set({ [name]: String(value), notice: '' }); },
    save() {
      const st = store.state;
      const fields = {};
      if (st.nickname !== ((st.me && st.me.nickname) || '')) fields.nickname = st.nickname;
      if (st.phone !== ((st.me && st.me.phone) || '')) fields.phone = st.phone === '' ? null : st.phone;
      return guarded(store, ctx.t, () => ctx.api.updateMe(fields).then((me) => { show(me); store.set({ notice: ctx.t('saved') }); return me; }));
    },
    savePassword() {
      const st = store.state;
      const work = st.hasPassword ? () => ctx.api.changePaymentPassword(st.oldPassword, st.newPassword)
        : () => ctx.api.setPaymentPassword(st.newPassword);
      return guarded(store, ctx.t, () => work().then((r) => {
        store.set({ hasPassword: true, oldPassword: '', newPassword: '', notice: ctx.t('password_set') });
        return r;
      }));
    },
    /** Switch language: kept in storage, so both the clients' words and the API's messages follow. */
    setLang(lang) {
      const chosen = ctx.setLang(lang);
      store.set({ lang: chosen });
      return chosen;
    },
    logout() { return guarded(store, ctx.t, () => ctx.api.logout().then(() => { store.set({ loggedOut: true }); })); },
  };
}

module.exports = { createSettings };
