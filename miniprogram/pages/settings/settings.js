const shell = require('../../shell');

Component({
  data: { s: {}, t: {} },
  lifetimes: {
    attached() { shell.attach(this, 'settings', 'createSettings'); },
    detached() { shell.detach(this); },
  },
  methods: {
    onLoad() { shell.title(this, 'settings_title'); },
    onShow() {
      if (!shell.requireLogin(this)) return Promise.resolve();
      return this.vm.load();
    },
    field(e) { this.vm.setField(e.currentTarget.dataset.field, e.detail.value); },
    save() { return this.vm.save(); },
    savePassword() { return this.vm.savePassword(); },
    lang(e) {
      this.vm.setLang(e.currentTarget.dataset.lang);
      shell.title(this, 'settings_title');
      // the tab bar's words are not page state: set them in the chosen language too
      ['tab_stations', 'tab_scan', 'tab_wallet', 'tab_me'].forEach((key, index) => {
        if (wx.setTabBarItem) wx.setTabBarItem({ index, text: this.ctx.t(key) });
      });
    },
    records() { wx.navigateTo({ url: '/pages/records/records' }); },
    reservation() { wx.navigateTo({ url: '/pages/reservation/reservation' }); },
    reports() { wx.navigateTo({ url: '/pages/reports/reports' }); },
    messages() { wx.navigateTo({ url: '/pages/messages/index' }); },
    swapBooking() { wx.navigateTo({ url: '/pages/swapbooking/swapbooking' }); },
    pile() { wx.navigateTo({ url: '/pages/pile/pile' }); },
    logout() { return this.vm.logout().then(() => wx.reLaunch({ url: '/pages/login/login' })); },
  },
});
