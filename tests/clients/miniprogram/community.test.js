'use strict';
// The mini-program's community pages against the running cloud (started and seeded by
// tests/clients/test_miniprogram_community.py): a station's reviews with photos and its
// posts, a review written for the driver's settled order with a photo, refusals in the
// server's words; the broken-gun report form and "my reports"; the receipt's consent asked
// before a start. The phone's photo picker, files and downloads are played here over real
// files and real HTTP to the cloud.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const h = require('./harness');

const E = process.env;
const SID = E.JC_SID;
const notices = require(path.resolve(__dirname, '..', '..', '..', 'miniprogram', 'notices.js'));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'jc-mp-community-'));
const events = [];
let n = 0;

// the phone's file system, photo picker and downloads (wx.downloadFile: real HTTP, with the
// header the page gives, into a temporary file)
Object.assign(global.wx, {
  chooseMedia(o) {
    const file = path.join(tmp, 'picked-' + (++n) + '.png');
    fs.writeFileSync(file, Buffer.from(E.JC_PNG, 'base64'));
    events.push('chooseMedia ' + o.count);
    o.success({ type: 'image', tempFiles: [{ tempFilePath: file, size: fs.statSync(file).size, fileType: 'image' }] });
  },
  getFileSystemManager() {
    return { readFile(o) { try { o.success({ data: fs.readFileSync(o.filePath).toString(o.encoding) }); } catch (e) { o.fail({ errMsg: e.message }); } } };
  },
  downloadFile(o) {
    fetch(o.url, { headers: o.header || {} }).then((r) => r.arrayBuffer().then((buf) => {
      const file = path.join(tmp, 'download-' + (++n));
      fs.writeFileSync(file, Buffer.from(buf));
      o.success({ statusCode: r.status, tempFilePath: file });
    })).catch((e) => o.fail({ errMsg: 'downloadFile:fail ' + e.message }));
  },
  requestSubscribeMessage(o) {
    events.push('subscribe ' + o.tmplIds.join(','));
    const res = { errMsg: 'requestSubscribeMessage:ok' };
    o.tmplIds.forEach((id) => { res[id] = 'accept'; });
    setTimeout(() => o.success(res), 5);
  },
});
const request = global.wx.request;
global.wx.request = (o) => { events.push((o.method || 'GET') + ' ' + o.url.replace(h.API, '')); return request(o); };

function pngWidth(file) {
  const b = fs.readFileSync(file);
  assert.equal(b.slice(1, 4).toString(), 'PNG');
  return b.readUInt32BE(16);
}

async function settle(comp, busyKeys) {
  for (let i = 0; i < 100 && (busyKeys || ['busy', 'loading']).some((k) => comp.instance.vm.state[k]); i += 1) await h.simulate.sleep(30);
  await h.simulate.sleep(0);
}

test('community: reviews with their photos; a review with a photo for the settled order; posts and refusals', async () => {
  await h.loggedIn('mp-reviewer');
  const comp = h.page('community');
  await comp.instance.onLoad({ sid: SID, order: E.JC_ORDER });
  await h.simulate.sleep(0);
  assert.equal(h.text(comp, '.title'), '站' + SID);
  assert.equal(h.text(comp, '.average'), '平均 3.0 星 · 1 条评价');
  assert.deepEqual(h.texts(comp, '.review .review-text'), ['车位有点窄']);
  assert.equal(h.text(comp, '.review .stars'), '★★★☆☆');
  // the other driver's photo, downloaded with this driver's token
  const img = comp.querySelector('.review .photo');
  assert.equal(img.dom.getAttribute('data-id'), E.JC_PHOTO);
  assert.equal(pngWidth(comp.instance.data.photoSrc[E.JC_PHOTO]), 3);
  // write the review: five stars, words and a photo picked from the album
  comp.querySelectorAll('.review-form .star')[4].dispatchEvent('tap');
  comp.querySelector('.review-input').dispatchEvent('input', { detail: { value: '小程序里写的评价' } });
  await h.simulate.sleep(0);
  await comp.instance.addPhoto();
  await h.simulate.sleep(0);
  assert.equal(h.text(comp, '.photos-added'), '已添加 1/3 张图片');
  await comp.instance.writeReview();
  await h.simulate.sleep(0);
  assert.equal(comp.instance.vm.state.error, '');
  assert.equal(h.text(comp, '.notice'), '评价已发表。');
  assert.ok(!comp.querySelector('.review-form'));
  assert.equal(h.text(comp, '.average'), '平均 4.0 星 · 2 条评价');
  assert.deepEqual(h.texts(comp, '.review .review-text'), ['小程序里写的评价', '车位有点窄']);
  const mine = comp.instance.vm.state.reviews[0].photos[0].id;
  assert.equal(pngWidth(comp.instance.data.photoSrc[mine]), 5); // ours, back from the API
  // a sensitive word: the server's words; then a post and a reply
  comp.querySelector('.post-input').dispatchEvent('input', { detail: { value: '老板是骗子' } });
  await h.simulate.sleep(0);
  await comp.instance.writePost();
  await h.simulate.sleep(0);
  assert.equal(h.text(comp, '.error'), '内容包含敏感词“骗子”，请修改后再提交。');
  comp.querySelector('.post-input').dispatchEvent('input', { detail: { value: '周末下午人多' } });
  await h.simulate.sleep(0);
  await comp.instance.writePost();
  await h.simulate.sleep(0);
  assert.ok(!comp.querySelector('.error'));
  assert.deepEqual(h.texts(comp, '.post .post-text'), ['周末下午人多']);
  comp.querySelector('.post .reply-open').dispatchEvent('tap');
  await h.simulate.sleep(0);
  comp.querySelector('.post .reply-text').dispatchEvent('input', { detail: { value: '早上也还行' } });
  await h.simulate.sleep(0);
  await comp.instance.reply();
  await h.simulate.sleep(0);
  assert.deepEqual(h.texts(comp, '.post .reply'), ['早上也还行']);
});

test('community: a banned driver is told so when writing', async () => {
  await h.loggedIn('mp-banned');
  const comp = h.page('community');
  await comp.instance.onLoad({ sid: SID });
  comp.querySelector('.post-input').dispatchEvent('input', { detail: { value: '你好' } });
  await h.simulate.sleep(0);
  await comp.instance.writePost();
  await h.simulate.sleep(0);
  assert.equal(h.text(comp, '.error'), '您已被禁止发言，请联系客服。');
  assert.equal(h.text(comp, '.banned'), '您已被禁止发言，不能发表评价和帖子；报修不受影响。');
  assert.deepEqual(h.texts(comp, '.post .post-text'), ['周末下午人多']);
});

test('paging: older reviews by "more", older posts at the page\'s end, past the newest 50', async () => {
  await h.loggedIn('mp-reviewer');
  const comp = h.page('community');
  await comp.instance.onLoad({ sid: E.JC_PAGED_SID });
  await h.simulate.sleep(0);
  assert.equal(h.text(comp, '.average'), '平均 3.0 星 · 55 条评价');
  let reviews = h.texts(comp, '.review .review-text');
  assert.equal(reviews.length, 50);
  assert.deepEqual([reviews[0], reviews[49]], ['评价 55', '评价 6']);
  assert.equal(h.texts(comp, '.post .post-text').length, 50);
  assert.equal(h.text(comp, '.reviews-more'), '更早的评价');
  comp.querySelector('.reviews-more').dispatchEvent('tap');
  await h.simulate.sleep(0);
  await settle(comp, ['loadingMore']);
  reviews = h.texts(comp, '.review .review-text');
  assert.equal(reviews.length, 55);
  assert.deepEqual(reviews.slice(50), ['评价 5', '评价 4', '评价 3', '评价 2', '评价 1']);
  assert.ok(!comp.querySelector('.reviews-more'));
  assert.equal(h.text(comp, '.posts-more'), '更早的帖子');
  // scrolled to the end: the older posts, the oldest with its reply
  await comp.instance.onReachBottom();
  await h.simulate.sleep(0);
  const posts = h.texts(comp, '.post .post-text');
  assert.equal(posts.length, 53);
  assert.deepEqual(posts.slice(50), ['帖子 3', '帖子 2', '帖子 1']);
  assert.deepEqual(h.texts(comp, '.post .reply'), ['回复 1']);
  assert.ok(!comp.querySelector('.posts-more'));
  // in English
  h.phone.storage.set('jc_lang', 'en');
  try {
    const en = h.page('community');
    await en.instance.onLoad({ sid: E.JC_PAGED_SID });
    await h.simulate.sleep(0);
    assert.equal(h.text(en, '.reviews-more'), 'Older reviews');
    assert.equal(h.text(en, '.posts-more'), 'Older posts');
    en.querySelector('.posts-more').dispatchEvent('tap');
    await h.simulate.sleep(0);
    await settle(en, ['loadingMore']);
    assert.equal(h.texts(en, '.post .post-text').length, 53);
  } finally {
    h.phone.storage.set('jc_lang', 'zh-CN');
  }
});

test('report: a reason first, then sent with words and a photo; open in my reports', async () => {
  await h.loggedIn('mp-reviewer');
  const comp = h.page('report');
  await comp.instance.onLoad({ g: E.JC_GUN_CODE });
  await h.simulate.sleep(0);
  assert.equal(h.text(comp, '.gun-text'), '站' + SID + ' · 1 号枪');
  assert.deepEqual(h.texts(comp, '.reason'), ['无法供电', '线缆损坏', '枪头损坏', '屏幕故障', '无法启动', '其他']);
  await comp.instance.submit();
  await h.simulate.sleep(0);
  assert.equal(h.text(comp, '.error'), '请选择故障原因');
  comp.querySelectorAll('.reason')[4].dispatchEvent('tap');
  comp.querySelector('.report-text').dispatchEvent('input', { detail: { value: '扫码后没有反应' } });
  await h.simulate.sleep(0);
  await comp.instance.addPhoto();
  await h.simulate.sleep(0);
  assert.equal(h.text(comp, '.add-photo'), '已添加照片');
  await comp.instance.submit();
  await h.simulate.sleep(0);
  assert.equal(comp.instance.vm.state.error, '');
  assert.equal(comp.querySelector('.report-sent').dom.getAttribute('data-state'), 'open');
  assert.equal(h.text(comp, '.report-sent .state'), '处理中');
  comp.querySelector('.mine').dispatchEvent('tap');
  await h.simulate.sleep(0);
  assert.deepEqual(h.phone.navigations.pop(), ['redirectTo', '/pages/reports/reports']);
  const list = h.page('reports');
  list.instance.onLoad({});
  await list.instance.onShow();
  await h.simulate.sleep(0);
  assert.deepEqual(h.texts(list, '.gun-report .reason'), ['无法启动']);
  assert.deepEqual(h.texts(list, '.gun-report .state'), ['处理中']);
  assert.ok(!list.querySelector('.resolution'));
  // the report's photo, downloaded with this driver's token: the one picked above
  const shot = list.querySelector('.gun-report .report-photo');
  const photoId = shot.dom.getAttribute('data-id');
  assert.ok(photoId);
  assert.equal(pngWidth(list.instance.data.photoSrc[photoId]), 5);
});

test('receipt: the subscribe-message consent is asked in the start tap, before the start request', async () => {
  await h.loggedIn('mp-reviewer');
  notices.configure({ receiptTemplate: E.JC_TEMPLATE });
  const comp = h.page('scan');
  await comp.instance.onLoad({ g: E.JC_GUN_CODE });
  await h.simulate.sleep(0);
  events.length = 0;
  await comp.instance.start();
  const asked = events.indexOf('subscribe ' + E.JC_TEMPLATE);
  const started = events.indexOf('POST /api/v1/driver/orders');
  assert.ok(asked >= 0 && started > asked, JSON.stringify(events));
  // receipts off (no template): nothing asked, the start goes on
  notices.configure({ receiptTemplate: '' });
  events.length = 0;
  await comp.instance.start();
  assert.ok(!events.some((e) => e.startsWith('subscribe')) && events.includes('POST /api/v1/driver/orders'), JSON.stringify(events));
});
