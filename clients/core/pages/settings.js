'use strict';
// Settings ("Me"): nickname, phone, payment password (set or change), language, the
// reservation-reminder lead time (GET/PUT /message-settings: off or one of the operator's
// choices), the unread badge on the entry to the messages (GET /messages/unread-count), log out.
const i18n = require('../i18n');
const { createStore, guarded } = require('../store');

function createSettings(ctx) {
  const store = createStore({ loading: false, busy: false, error: '', errorCode: '', notice: '', me: null,
    nickname: '', phone: '', hasPassword: false, oldPassword: '', newPassword: '', lang: ctx.lang(),
    langs: i18n.LANGS.map((l) => ({ lang: l, label: i18n.t(l, 'lang_name') })), loggedOut: false,
    unread: 0, badge: '', remind: null, remindOptions: [], remindText: '', remindConsentsText: '' });
  function show(me) {
    store.set({ me, nickname: me.nickname || '', phone: me.phone || '', hasPassword: Boolean(me.has_payment_password) });
  }
  function remindLabel(n, r) {
    return (n ? ctx.t('remind_minutes', { n }) : ctx.t('remind_off')) + (n === r.default ? ctx.t('remind_default') : '');
  }
  function showRemind(r) {
    if (!r) return;
    const current = r.remind_minutes;
    store.set({
      remind: r,
      remindOptions: (r.choices || []).map((n) => ({ minutes: n, label: remindLabel(n, r), on: n === current,
        cls: 'chip remind' + (n === current ? ' on' : '') })),
      remindText: ctx.t('remind_now', { what: remindLabel(current, r) }),
      remindConsentsText: current && r.consents ? ctx.t('remind_consents', { n: r.consents.reminder || 0 }) : '',
    });
  }
  function showUnread(r) {
    const n = (r && r.unread) || 0;
    store.set({ unread: n, badge: n > 99 ? ctx.t('unread_badge_more') : n ? String(n) : '' });
  }
  const vm = {
    store,
    state: store.state,
    load() { return guarded(store, ctx.t, () => ctx.api.me().then((me) => { show(me); return me; }), 'loading'); },
    /** The unread badge of the messages entry; a failure leaves the badge as it was. */
    loadUnread() { return ctx.api.unreadCount().then((r) => { showUnread(r); return r; }, () => undefined); },
    /** The unread badge and the reminder lead time (each left as it was when its request fails). */
    loadMessages() {
      return Promise.all([vm.loadUnread(),
        ctx.api.messageSettings().then((r) => { showRemind(r); return r; }, () => undefined)]);
    },
    /** Choose the reminder lead time (0: off); the reminder allows left come back with it. */
    setRemind(minutes) {
      const n = Number(minutes);
      return guarded(store, ctx.t, () => ctx.api.setRemindMinutes(n).then((r) => {
        showRemind(r);
        store.set({ notice: ctx.t('remind_saved', { what: remindLabel(r.remind_minutes, r) }) });
        return r;
      }));
    },
    /** The allows left after the mini-program asked (miniprogram/notices.js askMessages). */
    setConsents(consents) {
      if (consents && store.state.remind) showRemind(Object.assign({}, store.state.remind, { consents }));
    },
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
      showRemind(store.state.remind); // its labels in the new language
      return chosen;
    },
    logout() { return guarded(store, ctx.t, () => ctx.api.logout().then(() => { store.set({ loggedOut: true }); })); },
  };
  return vm;
}

module.exports = { createSettings };
