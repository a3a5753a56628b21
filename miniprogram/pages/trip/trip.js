const shell = require('../../shell');

Component({
  data: { s: {}, t: {} },
  lifetimes: {
    attached() { shell.attach(this, 'trip', 'createTrip'); },
    detached() { shell.detach(this); },
  },
  methods: {
    onLoad() { shell.title(this, 'trip_title'); },
    onShow() {
      if (!shell.requireLogin(this)) return Promise.resolve();
      if (!this.vm.state.originLat) this.here();
      return Promise.resolve();
    },
    /** wx.getLocation with type gcj02 gives the datum the API takes. */
    here() {
      if (!wx.getLocation) return;
      wx.getLocation({ type: 'gcj02', success: (p) => this.vm.setOrigin(p.latitude, p.longitude), fail: () => {} });
    },
    field(e) { this.vm.setField(e.currentTarget.dataset.field, e.detail.value); },
    reserve(e) { this.vm.setField('reserve', Boolean(e.detail.value && e.detail.value.length)); },
    plan() { return this.vm.plan(); },
  },
});
