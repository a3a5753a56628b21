const shell = require('../../shell');
const notices = require('../../notices');

// Reserve a gun (?g=<code>) or, without a code, the driver's reservation with its countdown.
Component({
  data: { s: {}, t: {} },
  lifetimes: {
    attached() { shell.attach(this, 'reservation', 'createReservation'); },
    detached() { shell.detach(this); },
  },
  methods: {
    onLoad(query) {
      if (!shell.requireLogin(this)) return Promise.resolve();
      shell.title(this, query.g ? 'reserve_title' : 'my_reservation');
      // the reminder's template id, ready before the reserve tap (miniprogram/notices.js)
      if (query.g) notices.loadTemplates(this.ctx.api);
      return query.g ? this.vm.load(query.g) : this.vm.openCurrent();
    },
    onUnload() { shell.detach(this); },
    minutes(e) { return this.vm.setMinutes(Number(e.currentTarget.dataset.minutes)); },
    reserve() {
      // WeChat opens the consent only from a tap: asked here, then the reservation whatever the answer
      return notices.askMessages(this.ctx.api).then(() => this.vm.reserve());
    },
    cancel() { return this.vm.cancel(); },
    charge() {
      const v = this.vm.state.view;
      if (v && v.gunCode) wx.navigateTo({ url: '/pages/scan/scan?g=' + encodeURIComponent(v.gunCode) });
    },
  },
});
