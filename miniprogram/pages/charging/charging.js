const shell = require('../../shell');

Component({
  data: { s: {}, t: {} },
  lifetimes: {
    attached() {
      shell.attach(this, 'charging', 'createCharging');
      // a finished order shows its bill
      this.vm.store.subscribe((st, patch) => {
        if (patch.done && st.order && !this.left) {
          this.left = true;
          wx.redirectTo({ url: '/pages/order/order?id=' + encodeURIComponent(st.order.order_id) });
        }
      });
    },
    detached() { shell.detach(this); },
  },
  methods: {
    onLoad(query) {
      if (!shell.requireLogin(this)) return Promise.resolve();
      shell.title(this, 'charging_title');
      return this.vm.open(query.id);
    },
    onUnload() { shell.detach(this); },
    stop() { return this.vm.stop(); },
  },
});
