const shell = require('../../shell');

// Battery-swap stations near the driver (clients/core/pages/swap.js createSwapStations).
Component({
  data: { s: {}, t: {} },
  lifetimes: {
    attached() { shell.attach(this, 'swap', 'createSwapStations'); },
    detached() { shell.detach(this); },
  },
  methods: {
    onLoad() {
      if (!shell.requireLogin(this)) return Promise.resolve();
      shell.title(this, 'swap_stations_title');
      // WeChat gives GCJ-02 when asked, as the API takes it
      return new Promise((resolve) => {
        wx.getLocation({
          type: 'gcj02',
          success: (r) => resolve(this.vm.setCenter(r.latitude, r.longitude)),
          fail: () => resolve(this.vm.load()),
        });
      });
    },
    onPullDownRefresh() { return this.vm.load().then(() => wx.stopPullDownRefresh()); },
    open(e) { wx.navigateTo({ url: '/pages/swapstation/swapstation?sid=' + encodeURIComponent(e.currentTarget.dataset.sid) }); },
    mine() { wx.navigateTo({ url: '/pages/swapbooking/swapbooking' }); },
  },
});
