const shell = require('../../shell');

Component({
  data: { s: {}, t: {} },
  lifetimes: {
    attached() { shell.attach(this, 'records', 'createRecords'); },
    detached() { shell.detach(this); },
  },
  methods: {
    onLoad() {
      if (!shell.requireLogin(this)) return Promise.resolve();
      shell.title(this, 'records_title');
      return this.vm.load();
    },
    onReachBottom() { return this.vm.state.more ? this.vm.more() : Promise.resolve(); },
    more() { return this.vm.more(); },
    open(e) { wx.navigateTo({ url: '/pages/order/order?id=' + encodeURIComponent(e.currentTarget.dataset.id) }); },
  },
});
