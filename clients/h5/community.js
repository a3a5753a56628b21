'use strict';
// The H5 app's community pages (docs/community.md): a station's reviews and posts
// (#/community/<sid>, ?order=<id> to review that settled order), the broken-gun report form
// (#/report?g=<code>), the driver's reports (#/reports) and messages (#/messages, #/messages/<id>
// to open one: reminders and notices; no subscribe messages in a browser). The view models are
// clients/core/pages/community.js; this adds what only a browser does: reading a picked
// file, and showing photos the API serves only with the driver's token.
const core = require('../core');

const P = core.pages;

const FACTORIES = {
  community: P.community.createStationCommunity,
  report: P.community.createGunReport,
  reports: P.community.createGunReport,
  messages: P.messages.createMessages,
};

/** Open route `r` ({name, arg, query}) on its view model; false when it is not ours. */
function show(r, vm) {
  switch (r.name) {
    case 'community': vm.open(r.arg, r.query.order || ''); return true;
    case 'report': vm.open(r.query.g || ''); return true;
    case 'reports': vm.loadMine(); return true;
    case 'messages': vm.open(r.arg || r.query.id || ''); return true;
    default: return false;
  }
}

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ''));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

/** Methods for the jcApp component. */
const methods = {
  /** A file the driver picked (input type=file) uploaded through the view model. */
  pickPhoto(event, vm) {
    const input = event.target;
    const files = Array.from(input.files || []);
    input.value = '';
    return files.reduce((p, file) => p.then(() => readBase64(file).then((b64) => vm.addPhoto(b64))), Promise.resolve());
  },
  /** Show a review photo in `img`: fetched with the driver's token into a blob URL. */
  photoSrc(img, photo) {
    if (img.dataset.photo === photo.id) return;
    img.dataset.photo = photo.id;
    window.fetch(photo.url, { headers: photo.header }).then((resp) => (resp.ok ? resp.blob() : null)).then((blob) => {
      if (!blob) return;
      if (img.src && img.src.startsWith('blob:')) URL.revokeObjectURL(img.src);
      img.src = URL.createObjectURL(blob);
    }, () => {});
  },
};

module.exports = { FACTORIES, show, methods };
