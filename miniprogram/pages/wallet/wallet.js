const shell = require('../../shell');

Component({
  data: { s: {}, t: {} },
  lifetimes: {
    attached() { shell.attach(this, 'wallet', 'createWallet'); },
    detached() { shell.detach(this); },
  },
  methods: {
    onLoad() { shell.title(this, 'wallet_title'); },
    onShow() {
      if (!shell.requireLogin(this)) return Promise.resolve();
      return this.vm.load();
    },
    preset(e) { this.vm.choosePreset(e.currentTarget.dataset.fen); },
    customAmount(e) { this.vm.setCustomAmount(e.detail.value); },
    recharge() {
      return this.vm.recharge().then((r) => {
        if (!r) return undefined;
        // the parameters the cloud signed for this JSAPI order (docs/payments.md)
        return new Promise((resolve) => {
          wx.requestPayment(Object.assign({}, r.pay_params, {
            success: () => resolve(this.vm.paid(true)),
            fail: () => resolve(this.vm.paid(false)),
          }));
        });
      });
    },
    refund() { return this.vm.refund(); },
    records() { wx.navigateTo({ url: '/pages/records/records' }); },
  },
});
