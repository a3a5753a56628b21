'use strict';
// A page's state and who listens to it: the mini-program shell copies each change into
// setData, the H5 shell into its reactive view. View models never touch wx or the DOM.

function createStore(initial) {
  const listeners = [];
  const store = {
    state: Object.assign({}, initial),
    set(patch) {
      Object.assign(store.state, patch);
      listeners.forEach((fn) => fn(store.state, patch));
    },
    subscribe(fn) {
      listeners.push(fn);
      return () => { const i = listeners.indexOf(fn); if (i >= 0) listeners.splice(i, 1); };
    },
  };
  return store;
}

/** The text to show for a failed action: the API's own message (already in the driver's
 * language), else the clients' words for a local failure. */
function errorText(err, t) {
  if (err && err.name === 'ApiError' && err.message) return err.message;
  return t('unknown_error', { code: (err && err.code) || 'client' });
}

/** Run `work` with state.busy set, recording {error, errorCode} on failure; resolves the
 * result, or undefined on failure (the page shows the error). */
function guarded(store, t, work, busyKey) {
  const key = busyKey || 'busy';
  store.set({ [key]: true, error: '', errorCode: '' });
  return Promise.resolve().then(work).then(
    (result) => { store.set({ [key]: false }); return result; },
    (err) => { store.set({ [key]: false, error: errorText(err, t), errorCode: (err && err.code) || '' }); return undefined; },
  );
}

module.exports = { createStore, errorText, guarded };
