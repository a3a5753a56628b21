'use strict';
// The community view models (docs/community.md): a station's reviews (list, average, write
// one for a settled order with up to three photos) and a broken-gun report (reason, text,
// optional photo; the driver's reports with their state and the operator's resolution).
const f = require('../format');
const { createStore, guarded } = require('../store');

const REASONS = ['no_power', 'cable_damaged', 'connector_damaged', 'screen_broken', 'wont_start', 'other'];
const MAX_PHOTOS = 3;

function starsText(n) {
  const k = Math.max(0, Math.min(5, Number(n) || 0));
  return '★'.repeat(k) + '☆'.repeat(5 - k);
}

function photoPath(sid, id) {
  return '/stations/' + encodeURIComponent(sid) + '/reviews/photos/' + encodeURIComponent(id);
}

function reviewItem(r) {
  return { id: r.review_id, stars: starsText(r.stars), text: r.text, time: f.dateTime(r.created_at),
    photos: (r.photo_ids || []).map((p) => photoPath(r.sid, p)) };
}

function createReviews(ctx) {
  const store = createStore({ loading: false, busy: false, error: '', errorCode: '', sid: '', items: [], count: 0,
    average: '', photoIds: [], written: null });
  const vm = {
    store,
    state: store.state,
    load(sid) {
      store.set({ sid });
      return guarded(store, ctx.t, () => ctx.api.reviews(sid).then((page) => {
        store.set({ items: page.reviews.map(reviewItem), count: page.count,
          average: page.average_stars === null ? '' : String(page.average_stars) });
        return page;
      }), 'loading');
    },
    /** A photo the driver picked, as base64; kept for the review being written. */
    addPhoto(base64) {
      if (store.state.photoIds.length >= MAX_PHOTOS) {
        store.set({ error: ctx.t('review_photos_max', { n: MAX_PHOTOS }), errorCode: 'too_many_photos' });
        return Promise.resolve(undefined);
      }
      return guarded(store, ctx.t, () => ctx.api.uploadPhoto(base64).then((p) => {
        store.set({ photoIds: store.state.photoIds.concat([p.photo_id]) });
        return p;
      }));
    },
    write(orderId, stars, text) {
      const body = { order_id: orderId, stars, text };
      if (store.state.photoIds.length) body.photo_ids = store.state.photoIds.slice();
      return guarded(store, ctx.t, () => ctx.api.writeReview(store.state.sid, body).then((r) => {
        store.set({ written: reviewItem(r), photoIds: [] });
        return vm.load(store.state.sid).then(() => r);
      }));
    },
  };
  return vm;
}

function reportItem(ctx, r) {
  return { id: r.report_id, gun: r.gun, reason: ctx.t('gun_report_reason_' + r.reason), text: r.text,
    time: f.dateTime(r.created_at), closed: r.state === 'closed',
    stateText: ctx.t(r.state === 'closed' ? 'gun_report_closed' : 'gun_report_open'),
    resolution: r.resolution || '' };
}

function createGunReport(ctx) {
  const store = createStore({ loading: false, busy: false, error: '', errorCode: '', gunCode: '', reason: '',
    reasons: [], photoId: null, sent: null, mine: [] });
  const vm = {
    store,
    state: store.state,
    open(gunCode) {
      store.set({ gunCode, reason: '', photoId: null, sent: null,
        reasons: REASONS.map((r) => ({ value: r, label: ctx.t('gun_report_reason_' + r) })) });
    },
    choose(reason) {
      if (REASONS.includes(reason)) store.set({ reason });
    },
    addPhoto(base64) {
      return guarded(store, ctx.t, () => ctx.api.uploadPhoto(base64).then((p) => { store.set({ photoId: p.photo_id }); return p; }));
    },
    submit(text) {
      if (!store.state.reason) {
        store.set({ error: ctx.t('gun_report_pick_reason'), errorCode: 'no_reason' });
        return Promise.resolve(undefined);
      }
      const body = { gun_code: store.state.gunCode, reason: store.state.reason };
      if (text) body.text = text;
      if (store.state.photoId) body.photo_id = store.state.photoId;
      return guarded(store, ctx.t, () => ctx.api.reportGun(body).then((r) => {
        store.set({ sent: reportItem(ctx, r) });
        return r;
      }));
    },
    loadMine() {
      return guarded(store, ctx.t, () => ctx.api.gunReports().then((page) => {
        store.set({ mine: page.reports.map((r) => reportItem(ctx, r)) });
        return page;
      }), 'loading');
    },
  };
  return vm;
}

module.exports = { createReviews, createGunReport, starsText, photoPath, REASONS };
