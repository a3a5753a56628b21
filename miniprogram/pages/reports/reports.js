const shell = require('../../shell');

// The driver's broken-gun reports: open, or resolved with the operator's note.
Component({
  data: { s: {}, t: {} },
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
    onShow() { return this.ctx.api.loggedIn() ? this.vm.loadMine() : Promise.resolve(); },
    onPullDownRefresh() { return this.vm.loadMine().then(() => wx.stopPullDownRefresh()); },
  },
});
