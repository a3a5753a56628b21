// Consent to the session-receipt subscribe message (docs/community.md). WeChat sends a
// subscribe message only to a user who accepted its template, once per acceptance, and the
// consent dialog may only be opened from a tap: the scan page asks here, in the start
// button's handler, before each start. The template id is the one the cloud sends with
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

module.exports = { configure, askReceipt, options };
