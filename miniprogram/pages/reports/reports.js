const shell = require('../../shell');

// The driver's broken-gun reports: open, or resolved with the operator's note; a report's
// photo through wx.downloadFile, since the API serves it only with the driver's token.
Component({
  data: { s: {}, t: {}, photoSrc: {} },
  lifetimes: {
    attached() { shell.attach(this, 'community', 'createGunReport'); },
    detached() { shell.detach(this); },
  },
  methods: {
    onLoad() {
      if (!shell.requireLogin(this)) return Promise.resolve();
      shell.title(this, 'my_reports');
      return Promise.resolve();
    },
    onShow() { return this.ctx.api.loggedIn() ? this.vm.loadMine().then(() => this.showPhotos()) : Promise.resolve(); },
    onPullDownRefresh() { return this.vm.loadMine().then(() => { this.showPhotos(); wx.stopPullDownRefresh(); }); },
    /** Download each report photo not yet here, with the token, into a local file to show. */
    showPhotos() {
      const have = this.data.photoSrc;
      return Promise.all((this.vm.state.mine || []).filter((r) => r.photo && !have[r.photo.id]).map((r) => new Promise((resolve) => {
        wx.downloadFile({ url: r.photo.url, header: r.photo.header,
          success: (res) => {
            if (res.statusCode === 200) this.setData({ ['photoSrc.' + r.photo.id]: res.tempFilePath });
            resolve();
          },
          fail: () => resolve() });
      })));
    },
  },
});
