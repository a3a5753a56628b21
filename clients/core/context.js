'use strict';
// What every view model is given: the API client, the driver's language, a clock and timers
// (injected so tests and both runtimes drive them alike).

const i18n = require('./i18n');
const { createApi } = require('./api');

function createContext(options) {
  const storage = options.storage;
  const ctx = {
    storage,
    lang: () => i18n.loadLang(storage),
    setLang: (lang) => i18n.saveLang(storage, lang),
    t: (key, params) => i18n.t(i18n.loadLang(storage), key, params),
    now: options.now || (() => Date.now()),
    setTimeout: options.setTimeout || ((fn, ms) => setTimeout(fn, ms)),
    clearTimeout: options.clearTimeout || ((h) => clearTimeout(h)),
  };
  ctx.api = options.api || createApi({ baseUrl: options.baseUrl, transport: options.transport, storage, getLang: ctx.lang,
    now: ctx.now });
  return ctx;
}

module.exports = { createContext };
