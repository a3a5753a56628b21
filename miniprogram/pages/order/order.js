const shell = require('../../shell');

Component({
  data: { s: {}, t: {} },
  lifetimes: {
    attached() { shell.attach(this, 'order', 'createOrder'); },
    detached() { shell.detach(this); },
  },
  methods: {
    onLoad(query) {
      if (!shell.requireLogin(this)) return Promise.resolve();
      shell.title(this, 'order_title');
      return this.vm.load(query.id);
    },
    star(e) { this.vm.setStars(e.currentTarget.dataset.n); },
    comment(e) { this.vm.setComment(e.detail.value); },
    rate() { return this.vm.rate(); },
    review() {
      const v = this.vm.state.view;
      wx.navigateTo({ url: '/pages/community/community?sid=' + encodeURIComponent(v.sid) + '&order=' + encodeURIComponent(v.orderId) });
    },
  },
});
