const shell = require('../../shell');
const notices = require('../../notices');

Component({
  data: { s: {}, t: {}, codeInput: '' },
  lifetimes: {
    attached() { shell.attach(this, 'scan', 'createScan'); },
    detached() { shell.detach(this); },
  },
  methods: {
    onLoad(query) {
      if (!shell.requireLogin(this)) return Promise.resolve();
      shell.title(this, 'scan_title');
      // opened from a gun's QR code: `g` (a link in the app), or `q` (WeChat's "scan an
      // ordinary link QR code to open the mini-program" hands the whole URL, encoded)
      const q = query || {};
      const text = q.g || (q.q ? decodeURIComponent(q.q) : '');
      return text ? this.vm.lookup(text) : Promise.resolve();
    },
    scan() {
      return new Promise((resolve) => {
        wx.scanCode({ onlyFromCamera: true, scanType: ['qrCode'], success: (r) => resolve(this.vm.lookup(r.result)), fail: () => resolve() });
      });
    },
    onCodeInput(e) { this.setData({ codeInput: e.detail.value }); },
    lookup() { return this.vm.lookup(this.data.codeInput); },
    mode(e) { this.vm.setMode(e.currentTarget.dataset.mode); },
    preset(e) { this.vm.choosePreset(e.currentTarget.dataset.fen); },
    customAmount(e) { this.vm.setCustomAmount(e.detail.value); },
    energy(e) { this.vm.setEnergy(e.detail.value); },
    time(e) { this.vm.setTime(e.detail.value); },
    departure(e) { this.vm.setDeparture(e.detail.value); },
    password(e) { this.vm.setPassword(e.detail.value); },
    payWith(e) { this.vm.setPay(e.currentTarget.dataset.pay); },
    start() {
      // WeChat opens the receipt's consent only from a tap: asked here, before the start
      return notices.askReceipt().then(() => this.vm.start()).then((order) => {
        if (!order) return order;
        const open = () => wx.redirectTo({ url: '/pages/charging/charging?id=' + encodeURIComponent(order.order_id) });
        if (!order.pay_params) { open(); return order; }
        // pay-per-session: the session starts once WeChat Pay confirms the payment
        return new Promise((resolve) => {
          wx.requestPayment(Object.assign({}, order.pay_params, {
            success: () => { open(); resolve(order); },
            fail: () => { this.vm.store.set({ error: this.ctx.t('pay_cancelled'), errorCode: 'pay_cancelled' }); resolve(undefined); },
          }));
        });
      });
    },
    nearestGun() {
      const g = this.vm.state.nearestGun;
      if (g) this.vm.lookup(g.code);
    },
    report() { wx.navigateTo({ url: '/pages/report/report?g=' + encodeURIComponent(this.vm.state.code) }); },
    reserve() { wx.navigateTo({ url: '/pages/reservation/reservation?g=' + encodeURIComponent(this.vm.state.code) }); },
    nearest() {
      const n = this.vm.state.nearest;
      if (n) wx.navigateTo({ url: '/pages/station/station?sid=' + encodeURIComponent(n.sid) });
    },
  },
});
