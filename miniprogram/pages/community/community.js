const shell = require('../../shell');

// A station's reviews and posts (?sid=), and writing a review for a settled order there
// (?order=<id>, from the order page). Photos: picked with wx.chooseMedia, uploaded as base64;
// shown through wx.downloadFile, since the API serves them only with the driver's token.
function readBase64(filePath) {
  return new Promise((resolve, reject) => {
    wx.getFileSystemManager().readFile({ filePath, encoding: 'base64', success: (r) => resolve(r.data), fail: reject });
  });
}

Component({
  data: { s: {}, t: {}, photoSrc: {} },
  lifetimes: {
    attached() { shell.attach(this, 'community', 'createStationCommunity'); },
    detached() { shell.detach(this); },
  },
  methods: {
    onLoad(query) {
      if (!shell.requireLogin(this)) return Promise.resolve();
      shell.title(this, 'community_title');
      const q = query || {};
      return this.vm.open(q.sid, q.order || '').then(() => this.showPhotos());
    },
    onUnload() { shell.detach(this); },
    onPullDownRefresh() { return this.vm.load().then(() => { this.showPhotos(); wx.stopPullDownRefresh(); }); },
    // the page's end is the posts' end: older posts come on scrolling there, as by "more"
    onReachBottom() { return this.vm.state.postsMore ? this.vm.morePosts() : Promise.resolve(undefined); },
    moreReviews() { return this.vm.moreReviews().then(() => this.showPhotos()); },
    morePosts() { return this.vm.morePosts(); },
    /** Download each review photo not yet here, with the token, into a local file to show. */
    showPhotos() {
      const have = this.data.photoSrc;
      const jobs = [];
      (this.vm.state.reviews || []).forEach((r) => r.photos.forEach((p) => {
        if (have[p.id]) return;
        jobs.push(new Promise((resolve) => {
          wx.downloadFile({ url: p.url, header: p.header,
            success: (res) => {
              if (res.statusCode === 200) this.setData({ ['photoSrc.' + p.id]: res.tempFilePath });
              resolve();
            },
            fail: () => resolve() });
        }));
      }));
      return Promise.all(jobs);
    },
    star(e) { this.vm.setStars(e.currentTarget.dataset.n); },
    text(e) { this.vm.setText(e.detail.value); },
    postText(e) { this.vm.setPostText(e.detail.value); },
    replyText(e) { this.vm.setReplyText(e.detail.value); },
    replyOn(e) { this.vm.replyOn(e.currentTarget.dataset.id); },
    addPhoto() {
      const left = shell.core.pages.community.MAX_PHOTOS - this.vm.state.photoIds.length;
      if (left <= 0) return this.vm.addPhoto('');
      return new Promise((resolve) => {
        wx.chooseMedia({ count: left, mediaType: ['image'], sourceType: ['album', 'camera'], sizeType: ['compressed'],
          success: (res) => resolve(res.tempFiles.reduce((p, f) => p.then(() => readBase64(f.tempFilePath)
            .then((b64) => this.vm.addPhoto(b64))), Promise.resolve())),
          fail: () => resolve() });
      });
    },
    writeReview() { return this.vm.writeReview().then((r) => this.showPhotos().then(() => r)); },
    writePost() { return this.vm.writePost(); },
    reply() { return this.vm.reply(); },
  },
});
