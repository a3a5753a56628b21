'use strict';
// The community view models (docs/community.md): a station's reviews (list, average, write
// one for a settled order with up to three photos) and a broken-gun report (reason, text,
// optional photo; the driver's reports with their state and the operator's resolution).
const f = require('../format');
const { createStore, guarded } = require('../store');

// reviews and posts per page: the newest this many, then older ones with `before`
const COMMUNITY_PAGE = 50;
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

/** The full URL of a review photo and the headers to fetch it with: the API serves photos only
 * to a logged-in driver, so the shells fetch them (H5: fetch into a blob URL; mini-program:
 * wx.downloadFile with the header) instead of pointing an image at the address. */
function photoRequest(ctx, path) {
  const tok = ctx.api.token();
  return { url: ctx.api.baseUrl + ctx.api.BASE_PATH + path, header: tok ? { Authorization: 'Bearer ' + tok } : {} };
}

function postItem(p) {
  return { id: p.post_id, text: p.text, time: f.dateTime(p.created_at),
    replies: (p.replies || []).map((r) => ({ id: r.post_id, text: r.text, time: f.dateTime(r.created_at) })) };
}

/**
 * A station's community page: its visible reviews (stars, text, photos) and posts with their
 * replies (hidden ones the API does not send), writing a review for one of the driver's
 * settled orders there (opened from the order page with its id), a post or a reply. Refusals
 * (banned, a sensitive word, an order not eligible) show the API's own message in the
 * driver's language; a ban also says so beside the forms.
 */
function createStationCommunity(ctx) {
  const store = createStore({ loading: false, busy: false, error: '', errorCode: '', sid: '', stationName: '',
    reviews: [], count: 0, average: '', averageText: '', posts: [], reviewsMore: false, postsMore: false,
    loadingMore: false, orderId: '', stars: 0,
    starList: [1, 2, 3, 4, 5].map((n) => ({ n, on: false })), text: '', photoIds: [], photosText: '',
    postText: '', replyTo: 0, replyText: '', written: null, banned: false, notice: '' });

  function setPhotos(ids) {
    store.set({ photoIds: ids, photosText: ids.length ? ctx.t('review_photos_added', { n: ids.length, max: MAX_PHOTOS }) : '' });
  }
  function refused(err) {
    // a ban is for good (until an operator lifts it): keep saying so beside the forms
    if (err && err.code === 'community_banned') store.set({ banned: true });
  }
  function write(work) {
    return guarded(store, ctx.t, () => work().catch((err) => { refused(err); throw err; }));
  }
  function reviewWithPhotos(r) {
    return Object.assign(reviewItem(r),
      { photos: (r.photo_ids || []).map((p) => Object.assign({ id: p }, photoRequest(ctx, photoPath(r.sid, p)))) });
  }
  /** The next older page after the last shown (`before` = its id); a full page means there
   * may be more, a short one that there are none. */
  function older(kind) {
    const st = store.state;
    const list = st[kind];
    if (st.loadingMore || !list.length) return Promise.resolve(undefined);
    const params = { limit: COMMUNITY_PAGE, before: list[list.length - 1].id };
    const next = () => (kind === 'reviews'
      ? ctx.api.reviews(st.sid, params).then((page) => page.reviews.map(reviewWithPhotos))
      : ctx.api.posts(st.sid, params).then((page) => page.posts.map(postItem)));
    return guarded(store, ctx.t, () => next().then((items) => {
      const seen = new Set(store.state[kind].map((x) => x.id));
      store.set({ [kind]: store.state[kind].concat(items.filter((x) => !seen.has(x.id))),
        [kind + 'More']: items.length >= COMMUNITY_PAGE });
      return items;
    }), 'loadingMore');
  }

  const vm = {
    store,
    state: store.state,
    /** Open station `sid`; `orderId`: a settled order of the driver there, to review. */
    open(sid, orderId) {
      store.set({ sid, orderId: orderId || '', written: null, notice: '', text: '', postText: '', replyTo: 0,
        replyText: '', stars: 0, starList: [1, 2, 3, 4, 5].map((n) => ({ n, on: false })) });
      setPhotos([]);
      return vm.load();
    },
    load() {
      const sid = store.state.sid;
      return guarded(store, ctx.t, () => Promise.all([
        ctx.api.station(sid).then((st) => st, () => null),
        ctx.api.reviews(sid, { limit: COMMUNITY_PAGE }),
        ctx.api.posts(sid, { limit: COMMUNITY_PAGE }),
      ]).then(([st, page, posts]) => {
        const average = page.average_stars === null || page.average_stars === undefined ? '' : Number(page.average_stars).toFixed(1);
        store.set({ stationName: st ? st.name || sid : sid,
          reviews: page.reviews.map(reviewWithPhotos),
          count: page.count, average,
          averageText: average ? ctx.t('reviews_average', { avg: average, n: page.count }) : ctx.t('no_reviews'),
          posts: posts.posts.map(postItem),
          reviewsMore: page.reviews.length >= COMMUNITY_PAGE, postsMore: posts.posts.length >= COMMUNITY_PAGE });
        return page;
      }), 'loading');
    },
    /** Older reviews, after the ones shown ("more"). */
    moreReviews() { return older('reviews'); },
    /** Older posts with their replies, after the ones shown ("more", or the page's end). */
    morePosts() { return older('posts'); },
    setStars(n) {
      const stars = Math.max(0, Math.min(5, Number(n) || 0));
      store.set({ stars, starList: [1, 2, 3, 4, 5].map((k) => ({ n: k, on: k <= stars })) });
    },
    setText(text) { store.set({ text: String(text) }); },
    setPostText(text) { store.set({ postText: String(text) }); },
    setReplyText(text) { store.set({ replyText: String(text) }); },
    replyOn(postId) { store.set({ replyTo: Number(postId) || 0, replyText: '' }); },
    /** A photo the driver picked (base64), uploaded at once; its id goes with the review. */
    addPhoto(base64) {
      if (store.state.photoIds.length >= MAX_PHOTOS) {
        store.set({ error: ctx.t('review_photos_max', { n: MAX_PHOTOS }), errorCode: 'too_many_photos' });
        return Promise.resolve(undefined);
      }
      return guarded(store, ctx.t, () => ctx.api.uploadPhoto(base64).then((p) => {
        setPhotos(store.state.photoIds.concat([p.photo_id]));
        return p;
      }));
    },
    writeReview() {
      const st = store.state;
      if (!st.stars) { store.set({ error: ctx.t('stars_required'), errorCode: 'stars_required' }); return Promise.resolve(undefined); }
      if (!st.text.trim()) { store.set({ error: ctx.t('review_text_required'), errorCode: 'text_required' }); return Promise.resolve(undefined); }
      const body = { order_id: st.orderId, stars: st.stars, text: st.text.trim() };
      if (st.photoIds.length) body.photo_ids = st.photoIds.slice();
      return write(() => ctx.api.writeReview(st.sid, body)).then((r) => {
        if (!r) return r;
        store.set({ written: reviewItem(r), orderId: '', text: '', notice: ctx.t('review_sent') });
        setPhotos([]);
        return vm.load().then(() => r);
      });
    },
    writePost() {
      const text = store.state.postText.trim();
      if (!text) { store.set({ error: ctx.t('post_text_required'), errorCode: 'text_required' }); return Promise.resolve(undefined); }
      return write(() => ctx.api.writePost(store.state.sid, { text })).then((p) => {
        if (!p) return p;
        store.set({ postText: '', notice: ctx.t('post_sent') });
        return vm.load().then(() => p);
      });
    },
    reply() {
      const st = store.state;
      const text = st.replyText.trim();
      if (!st.replyTo || !text) { store.set({ error: ctx.t('post_text_required'), errorCode: 'text_required' }); return Promise.resolve(undefined); }
      return write(() => ctx.api.writePost(st.sid, { text, parent_id: st.replyTo })).then((p) => {
        if (!p) return p;
        store.set({ replyTo: 0, replyText: '', notice: ctx.t('post_sent') });
        return vm.load().then(() => p);
      });
    },
  };
  return vm;
}

function reportItem(ctx, r) {
  return { id: r.report_id, gun: r.gun, reason: ctx.t('gun_report_reason_' + r.reason), text: r.text,
    time: f.dateTime(r.created_at), closed: r.state === 'closed', state: r.state,
    stateText: ctx.t(r.state === 'closed' ? 'gun_report_closed' : 'gun_report_open'),
    closedTime: r.closed_at ? f.dateTime(r.closed_at) : '', resolution: r.resolution || '',
    // served only to the driver who filed it, with the token (as review photos are)
    photo: r.photo_id ? Object.assign({ id: r.photo_id },
      photoRequest(ctx, '/gun-reports/' + encodeURIComponent(r.report_id) + '/photo')) : null };
}

function createGunReport(ctx) {
  const store = createStore({ loading: false, busy: false, error: '', errorCode: '', gunCode: '', gunText: '', reason: '',
    reasons: [], text: '', photoId: null, sent: null, mine: [], none: false });
  function reasons(chosen) {
    return REASONS.map((r) => ({ value: r, label: ctx.t('gun_report_reason_' + r), on: r === chosen }));
  }
  const vm = {
    store,
    state: store.state,
    /** The form for gun `gunCode` (its QR code); the gun's station and name shown when the API
     * knows them (a report is allowed whatever the gun's state). */
    open(gunCode) {
      store.set({ gunCode, gunText: gunCode, reason: '', text: '', photoId: null, sent: null, error: '', errorCode: '',
        reasons: reasons('') });
      if (!gunCode) return Promise.resolve(undefined);
      return ctx.api.gun(gunCode).then((g) => {
        const st = g.station || {};
        const gun = g.gun && typeof g.gun === 'object' ? g.gun : g;
        const name = [st.name || g.station_name || '', gun.name || gun.gun || ''].filter(Boolean).join(' · ');
        if (name) store.set({ gunText: name });
        return g;
      }, () => undefined);
    },
    choose(reason) {
      if (REASONS.includes(reason)) store.set({ reason, reasons: reasons(reason), error: '', errorCode: '' });
    },
    setText(text) { store.set({ text: String(text) }); },
    addPhoto(base64) {
      return guarded(store, ctx.t, () => ctx.api.uploadPhoto(base64).then((p) => { store.set({ photoId: p.photo_id }); return p; }));
    },
    submit(given) {
      const text = (given !== undefined ? String(given) : store.state.text).trim();
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
        store.set({ mine: page.reports.map((r) => reportItem(ctx, r)), none: !page.reports.length });
        return page;
      }), 'loading');
    },
  };
  return vm;
}

module.exports = { createReviews, createStationCommunity, createGunReport, starsText, photoPath, photoRequest, REASONS,
  MAX_PHOTOS, COMMUNITY_PAGE };
