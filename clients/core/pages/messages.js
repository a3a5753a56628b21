'use strict';
// The driver's messages (docs/community.md "Messages to drivers"): reservation reminders and
// system notices from GET /messages, newest first in the driver's language, paged with
// `before`. A subscribe message opens the page with its id (pages/messages/index?id=…): that
// message is shown opened. The subscribe-message consents (GET /message-templates, POST
// /message-consents) are the mini-program's: the wx dialog is asked in miniprogram/notices.js,
// and this view model only shows what is allowed and records the answer.
const f = require('../format');
const { createStore, guarded } = require('../store');

const PAGE = 20;
// pages read to find the message a subscribe message opened before giving up on it
const FIND_PAGES = 10;

function createMessages(ctx) {
  const store = createStore({ loading: false, busy: false, error: '', errorCode: '', items: [], nextBefore: null,
    hasMore: false, none: false, openId: 0, notFound: false, templates: null, canSubscribe: false, consents: null,
    consentsText: '', notice: '' });

  function item(m) {
    const open = m.id === store.state.openId;
    return { id: m.id, kind: m.kind, kindText: ctx.t('message_kind_' + m.kind), title: m.title, text: m.text,
      time: f.dateTime(m.created_at), atText: m.at ? ctx.t('message_at', { at: f.dateTime(m.at) }) : '',
      pushed: Boolean(m.pushed), open, cls: 'message ' + m.kind + (open ? ' open' : '') };
  }
  function mark() {
    store.set({ items: store.state.items.map((m) => Object.assign({}, m, { open: m.id === store.state.openId,
      cls: 'message ' + m.kind + (m.id === store.state.openId ? ' open' : '') })) });
  }
  function page(before) {
    const params = { limit: PAGE };
    if (before) params.before = before;
    return ctx.api.messages(params).then((p) => {
      const items = (before ? store.state.items : []).concat(p.messages.map(item));
      store.set({ items, nextBefore: p.next_before, hasMore: p.next_before !== null && p.next_before !== undefined,
        none: !items.length });
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
    /** The first page; `id` (a message's id, from a subscribe message): that one opened, read
     * further back page by page when it is older than the first page. */
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
        return page(null).then(more).then(() => store.state.items);
      }, 'loading');
    },
    /** The next page (older messages), after the last one shown. */
    more() {
      if (!store.state.hasMore) return Promise.resolve(undefined);
      return guarded(store, ctx.t, () => page(store.state.nextBefore), 'loading');
    },
    /** Open message `id` (or close it when it is the open one). */
    select(id) {
      const n = Number(id) || 0;
      store.set({ openId: store.state.openId === n ? 0 : n, notFound: false });
      mark();
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
