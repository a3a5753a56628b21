const shell = require('../../shell');

// Report a broken gun (?g=<code>, from the station or the scan page): a reason, words and an
// optional photo; the report raises an alarm for the station's operator (docs/community.md).
Component({
  data: { s: {}, t: {} },
  lifetimes: {
    attached() { shell.attach(this, 'community', 'createGunReport'); },
    detached() { shell.detach(this); },
  },
  methods: {
    onLoad(query) {
      if (!shell.requireLogin(this)) return Promise.resolve();
      shell.title(this, 'report_title');
      return this.vm.open((query && query.g) || '');
    },
    onUnload() { shell.detach(this); },
    reason(e) { this.vm.choose(e.currentTarget.dataset.reason); },
    text(e) { this.vm.setText(e.detail.value); },
    addPhoto() {
      return new Promise((resolve) => {
        wx.chooseMedia({ count: 1, mediaType: ['image'], sourceType: ['album', 'camera'], sizeType: ['compressed'],
          success: (res) => wx.getFileSystemManager().readFile({ filePath: res.tempFiles[0].tempFilePath, encoding: 'base64',
            success: (r) => resolve(this.vm.addPhoto(r.data)), fail: () => resolve() }),
          fail: () => resolve() });
      });
    },
    submit() { return this.vm.submit(); },
    mine() { wx.redirectTo({ url: '/pages/reports/reports' }); },
  },
});
