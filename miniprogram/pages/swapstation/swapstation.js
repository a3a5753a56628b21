const shell = require('../../shell');
const notices = require('../../notices');

// A battery-swap station: bays, packs ready now and predicted, book a slot for a pack type
// with the fee of the station's rules (clients/core/pages/swap.js createSwapStation).
Component({
  data: { s: {}, t: {} },
  lifetimes: {
    attached() { shell.attach(this, 'swap', 'createSwapStation'); },
    detached() { shell.detach(this); },
  },
  methods: {
    onLoad(query) {
      if (!shell.requireLogin(this)) return Promise.resolve();
      shell.title(this, 'swap_station_title');
      notices.loadTemplates(this.ctx.api);
      return this.vm.load(query.sid).then((st) => { if (st) wx.setNavigationBarTitle({ title: st.name || st.sid }); });
    },
    pickType(e) { this.vm.setType(e.currentTarget.dataset.type); },
    pickSlot(e) { this.vm.setSlot(Number(e.currentTarget.dataset.start)); },
    book() {
      // the slot's reminder consent, asked in the tap before the booking whatever the answer
      return notices.askMessages(this.ctx.api).then(() => this.vm.book()).then((b) => {
        if (b) wx.navigateTo({ url: '/pages/swapbooking/swapbooking' });
        return b;
      });
    },
  },
});
