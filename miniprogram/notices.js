// Subscribe-message consents (docs/community.md). WeChat sends a subscribe message only to a
// user who accepted its template, once per acceptance, and the consent dialog may only be
// opened from a tap. Session receipts: the scan page asks here, in the start button's handler,
// before each start. The template id is the one the cloud sends with
// (WECHAT_SUBSCRIBE_RECEIPT_TEMPLATE); empty: receipts are off and nothing is asked.
const config = require('./config');

const options = { receiptTemplate: config.receiptTemplate || '' };

function configure(o) {
  Object.assign(options, o);
}

/** Ask for the receipt; resolves {asked, accepted} whatever the driver answers (a refusal
 * or a failure never stops the start). */
function askReceipt() {
  const tmpl = options.receiptTemplate;
  if (!tmpl || typeof wx.requestSubscribeMessage !== 'function') return Promise.resolve({ asked: false, accepted: false });
  return new Promise((resolve) => {
    wx.requestSubscribeMessage({
      tmplIds: [tmpl],
      success: (res) => resolve({ asked: true, accepted: res[tmpl] === 'accept' }),
      fail: () => resolve({ asked: true, accepted: false }),
    });
  });
}

// Consent to reservation reminders and system notices (docs/community.md "Messages to
// drivers"): their template ids come from the cloud (GET /message-templates; null: that kind
// is not sent, not asked), each "accept" is reported with POST /message-consents, one allow
// per message. The ids are read when a page opens (loadTemplates), so that the tap that asks
// opens the dialog at once, as WeChat wants, without waiting for a request first.
const KINDS = ['reminder', 'notice'];
let templates = null;

/** Read (and keep) the cloud's template ids with `api` (clients/core/api.js). */
function loadTemplates(api) {
  return api.messageTemplates().then((r) => { templates = r.templates || {}; return r; }, () => null);
}

/** Ask for the reminder and notice templates (or only `only`, e.g. ['reminder'] from the
 * settings' lead-time tap) and report the accepted kinds; resolves {asked, accepted: [kinds],
 * consents (the allows left, null when nothing was reported)} whatever the driver answers (a
 * refusal or a failure never stops the reservation, booking or setting). */
function askMessages(api, only) {
  const ready = templates ? Promise.resolve() : loadTemplates(api);
  return ready.then(() => {
    const kinds = KINDS.filter((k) => templates && templates[k] && (!only || only.indexOf(k) >= 0));
    if (!kinds.length || typeof wx.requestSubscribeMessage !== 'function') return { asked: false, accepted: [], consents: null };
    return new Promise((resolve) => {
      wx.requestSubscribeMessage({
        tmplIds: kinds.map((k) => templates[k]),
        success: (res) => resolve(kinds.filter((k) => res[templates[k]] === 'accept')),
        fail: () => resolve([]),
      });
    }).then((accepted) => {
      if (!accepted.length) return { asked: true, accepted, consents: null };
      return api.messageConsents(accepted).then((r) => ({ asked: true, accepted, consents: r.consents }),
        () => ({ asked: true, accepted, consents: null }));
    });
  });
}

/** Forget the kept template ids (the tests' cloud changes them). */
function forgetTemplates() {
  templates = null;
}

module.exports = { configure, askReceipt, options, loadTemplates, askMessages, forgetTemplates };
