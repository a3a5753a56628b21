'use strict';
// A scripted transport: answers each request from a table of routes and records what the
// client sent (method, path, headers, body), so the tests check the requests on the wire.
const core = require('..');

function scripted(routes) {
  const sent = [];
  function transport(req) {
    const u = new URL(req.url, 'http://cloud.test');
    const key = req.method + ' ' + u.pathname.replace(core.api.BASE_PATH, '');
    sent.push({ method: req.method, path: u.pathname.replace(core.api.BASE_PATH, ''), query: Object.fromEntries(u.searchParams),
      headers: req.headers, body: req.body === undefined ? undefined : JSON.parse(req.body) });
    const answer = routes[key];
    if (answer === undefined) return Promise.resolve({ status: 404, data: { error: { code: 'not_found', message: '未找到。' } } });
    if (answer === 'network') return Promise.reject(new Error('request:fail'));
    const res = typeof answer === 'function' ? answer(sent[sent.length - 1]) : answer;
    return Promise.resolve(res.status ? res : { status: 200, data: res });
  }
  return { transport, sent };
}

function manualTimers() {
  const due = [];
  return {
    setTimeout: (fn, ms) => { const h = { fn, ms }; due.push(h); return h; },
    clearTimeout: (h) => { const i = due.indexOf(h); if (i >= 0) due.splice(i, 1); },
    pending: due,
    fire() { const h = due.shift(); return h ? h.fn() : undefined; },
  };
}

function context(routes, extra) {
  const s = scripted(routes);
  const storage = core.api.memoryStorage();
  const timers = manualTimers();
  const ctx = core.createContext(Object.assign({ baseUrl: 'http://cloud.test', transport: s.transport, storage,
    setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout, now: () => 1767225600000 }, extra || {}));
  return { ctx, sent: s.sent, storage, timers };
}

module.exports = { scripted, manualTimers, context, core };
