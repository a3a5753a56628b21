const shell = require('../../shell');

// "My pile" of a private pile's owner (docs/sharing.md; clients/core/pages/pile.js createPile):
// register a gun with its QR code (wx.scanCode) and the pairing code, the piles, open hours
// (spans of weekdays) and a price (flat or by period), the switch, the earnings and the withdrawals — the payment password asked for
// when the owner has set one, and WeChat's confirmation of a transfer waiting for its payee
// (wx.requestMerchantTransfer).
Component({
  data: { s: {}, t: {} },
  lifetimes: {
    attached() { shell.attach(this, 'pile', 'createPile'); },
    detached() { shell.detach(this); },
  },
  methods: {
    onLoad() {
      if (!shell.requireLogin(this)) return Promise.resolve();
      shell.title(this, 'my_pile');
      return this.vm.load();
    },
    field(e) { this.vm.setField(e.currentTarget.dataset.field, e.detail.value); },
    /** The gun's QR code (its link or the bare code) as the gun code to register. */
    scan() {
      return new Promise((resolve) => {
        wx.scanCode({ onlyFromCamera: true, scanType: ['qrCode'], success: (r) => resolve(this.vm.scanned(r.result)), fail: () => resolve('') });
      });
    },
    pair() { return this.vm.pair(); },
    select(e) { this.vm.select(e.currentTarget.dataset.id); },
    // open hours: spans of weekdays (data-i: the span; data-day, data-key)
    addSpan() { this.vm.addSpan(); },
    removeSpan(e) { this.vm.removeSpan(e.currentTarget.dataset.i); },
    toggleDay(e) { this.vm.toggleDay(e.currentTarget.dataset.i, e.currentTarget.dataset.day); },
    spanField(e) { this.vm.setSpan(e.currentTarget.dataset.i, e.currentTarget.dataset.key, e.detail.value); },
    saveHours() { return this.vm.saveSpans(); },
    // the price: one all day or by period (data-i: the period)
    priceMode(e) { this.vm.setPriceMode(e.currentTarget.dataset.mode); },
    addPeriod() { this.vm.addPeriod(); },
    removePeriod(e) { this.vm.removePeriod(e.currentTarget.dataset.i); },
    periodKind(e) { this.vm.setPeriod(e.currentTarget.dataset.i, 'name', e.currentTarget.dataset.kind); },
    periodField(e) { this.vm.setPeriod(e.currentTarget.dataset.i, e.currentTarget.dataset.key, e.detail.value); },
    savePrice() { return this.vm.savePrice(); },
    toggle() { return this.vm.setOpen(!this.vm.state.view.open); },
    /** A withdrawal WeChat holds for the payee's confirmation opens WeChat's confirmation at once. */
    withdraw() {
      return this.vm.withdraw().then((w) => (w && w.confirm_params ? this.confirmTransfer(w.withdrawal_id) : w));
    },
    /** WeChat's page where the payee confirms a transfer (商家转账, 用户确认模式), with the
     * parameters the cloud gave (mchId, appId, package); then the withdrawal asked again. */
    confirmTransfer(e) {
      const id = e && e.currentTarget ? e.currentTarget.dataset.id : e;
      const params = this.vm.confirmParams(id);
      if (!params) return Promise.resolve(undefined);
      if (!(wx.canIUse ? wx.canIUse('requestMerchantTransfer') : typeof wx.requestMerchantTransfer === 'function')) {
        return this.vm.confirmed(id, false, 'unsupported');
      }
      return new Promise((resolve) => {
        wx.requestMerchantTransfer(Object.assign(params, {
          success: () => resolve(this.vm.confirmed(id, true)),
          fail: (r) => resolve(this.vm.confirmed(id, false, /cancel/.test((r && r.errMsg) || '') ? 'cancel' : 'fail')),
        }));
      });
    },
  },
});
