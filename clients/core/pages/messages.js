'use strict';
// The driver's messages (docs/community.md "Messages to drivers"): reservation reminders and
// system notices from GET /messages, newest first in the driver's language, paged with
// `before`. A subscribe message opens the page with its id (pages/messages/index?id=…): that
// message is shown opened. The subscribe-message consents (GET /message-templates, POST
// /message-consents) are the mini-program's: the wx dialog is asked in miniprogram/notices.js,
// and this view model only shows what is allowed and records the answer.
// Read state: each message comes with `unread`; opening one (a tap, or the id a subscribe
// message carries) marks it read (POST /messages/<id>/read), "mark all read" marks every one
// up to the newest shown (POST /messages/read-all with up_to); `unread` is the count the API
// gives back after each. A failed mark leaves the message unread and says nothing.
const f = require('../format');
const { createStore, guarded } = require('../store');

const PAGE = 20;
// pages read to find the message a subscribe message opened before giving up on it
const FIND_PAGES = 10;

function createMessages(ctx) {
  const store = createStore({ loading: false, busy: false, error: '', errorCode: '', items: [], nextBefore: null,
    hasMore: false, none: false, openId: 0, notFound: false, templates: null, canSubscribe: false, consents: null,
    consentsText: '', notice: '', unread: 0, unreadText: '' });

  function cls(kind, open, unread) {
    return 'message ' + kind + (open ? ' open' : '') + (unread ? ' unread' : '');
  }
  function item(m) {
    const open = m.id === store.state.openId;
    const unread = Boolean(m.unread);
    return { id: m.id, kind: m.kind, kindText: ctx.t('message_kind_' + m.kind), title: m.title, text: m.text,
      time: f.dateTime(m.created_at), atText: m.at ? ctx.t('message_at', { at: f.dateTime(m.at) }) : '',
      pushed: Boolean(m.pushed), open, unread, cls: cls(m.kind, open, unread) };
  }
  function mark() {
    store.set({ items: store.state.items.map((m) => Object.assign({}, m, { open: m.id === store.state.openId,
      cls: cls(m.kind, m.id === store.state.openId, m.unread) })) });
  }
  function setUnread(n) {
    if (typeof n !== 'number') return;
    store.set({ unread: n, unreadText: n > 0 ? ctx.t('messages_unread', { n }) : '' });
  }
  /** Items `ids` (all when null) shown read. */
  function shownRead(ids) {
    store.set({ items: store.state.items.map((m) => (ids && ids.indexOf(m.id) < 0) || !m.unread ? m
      : Object.assign({}, m, { unread: false, cls: cls(m.kind, m.open, false) })) });
  }
  /** Mark message `id` read when it is shown unread; resolves when the cloud answered. */
  function read(id) {
    const m = store.state.items.find((x) => x.id === id);
    if (!m || !m.unread) return Promise.resolve(undefined);
    return ctx.api.readMessage(id).then((r) => { shownRead([id]); setUnread(r.unread); return r; }, () => undefined);
  }
  function page(before) {
    const params = { limit: PAGE };
    if (before) params.before = before;
    return ctx.api.messages(params).then((p) => {
      const items = (before ? store.state.items : []).concat(p.messages.map(item));
      store.set({ items, nextBefore: p.next_before, hasMore: p.next_before !== null && p.next_before !== undefined,
        none: !items.length });
      setUnread(p.unread);
      return p;
    });
  }
  function found() {
    return store.state.items.some((m) => m.id === store.state.openId);
  }
  function setConsents(c) {
    store.set({ consents: c, consentsText: c ? ctx.t('messages_consents', { reminder: c.reminder || 0, notice: c.notice || 0 }) : '' });
  }

  const vm = {
    store,
    state: store.state,
    /** The first page; `id` (a message's id, from a subscribe message): that one opened (and
     * marked read), read further back page by page when it is older than the first page. */
    open(id) {
      const openId = Number(id) || 0;
      store.set({ openId, notFound: false, notice: '' });
      return guarded(store, ctx.t, () => {
        let n = 1;
        const more = () => {
          if (!openId || found()) return undefined;
          if (!store.state.hasMore || n >= FIND_PAGES) { store.set({ notFound: true }); return undefined; }
          n += 1;
          return page(store.state.nextBefore).then(more);
        };
        return page(null).then(more).then(() => (openId && found() ? read(openId) : undefined))
          .then(() => store.state.items);
      }, 'loading');
    },
    /** The next page (older messages), after the last one shown. */
    more() {
      if (!store.state.hasMore) return Promise.resolve(undefined);
      return guarded(store, ctx.t, () => page(store.state.nextBefore), 'loading');
    },
    /** Open message `id` (or close it when it is the open one); opening marks it read. */
    select(id) {
      const n = Number(id) || 0;
      const opening = store.state.openId !== n;
      store.set({ openId: opening ? n : 0, notFound: false });
      mark();
      return opening ? read(n) : Promise.resolve(undefined);
    },
    /** Mark every message read up to the newest shown (one that arrived since stays unread). */
    readAll() {
      const newest = store.state.items.reduce((top, m) => Math.max(top, m.id), 0);
      if (!newest) return Promise.resolve(undefined);
      return guarded(store, ctx.t, () => ctx.api.readAllMessages(newest).then((r) => {
        shownRead(null);
        setUnread(r.unread);
        store.set({ notice: ctx.t('messages_all_read') });
        return r;
      }));
    },
    /** The subscribe-message templates and the allows left (the mini-program only). */
    loadTemplates() {
      return ctx.api.messageTemplates().then((r) => { vm.setTemplates(r); return r; }, () => undefined);
    },
    /** An answer of GET /message-templates (read by miniprogram/notices.js). */
    setTemplates(r) {
      if (!r) return;
      const t = r.templates || {};
      store.set({ templates: t, canSubscribe: Boolean(t.reminder || t.notice) });
      setConsents(r.consents || null);
    },
    /** The answer of wx.requestSubscribeMessage, as the kinds the driver accepted (notices.js). */
    subscribed(result) {
      if (!result || !result.asked) {
        store.set({ notice: ctx.t('messages_subscribe_off') });
        return;
      }
      if (result.consents) setConsents(result.consents);
      const n = result.accepted.length;
      store.set({ notice: n ? ctx.t('messages_subscribed', { n }) : ctx.t('messages_subscribe_none') });
    },
  };
  return vm;
}

module.exports = { createMessages, PAGE, FIND_PAGES };
