const shell = require('../../shell');

Component({
  data: { s: {}, t: {} },
  lifetimes: {
    attached() { shell.attach(this, 'stations', 'createStations'); },
    detached() { shell.detach(this); },
  },
  methods: {
    onLoad() {
      if (!shell.requireLogin(this)) return Promise.resolve();
      shell.title(this, 'stations_title');
      // WeChat gives GCJ-02 when asked, as the API and <map> take it
      return new Promise((resolve) => {
        wx.getLocation({
          type: 'gcj02',
          success: (r) => resolve(this.vm.setCenter(r.latitude, r.longitude)),
          fail: () => resolve(this.vm.load()),
        });
      });
    },
    onPullDownRefresh() { return this.vm.load().then(() => wx.stopPullDownRefresh()); },
    showList() { this.vm.setView('list'); },
    showMap() { this.vm.setView('map'); },
    showRecommended() { return this.vm.setView('recommended'); },
    toggleFree() { return this.vm.toggleFree(); },
    toggleShared() { return this.vm.toggleShared(); },
    retry() { return this.vm.load(); },
    trip() { wx.navigateTo({ url: '/pages/trip/trip' }); },
    open(e) { this.openStation(e.currentTarget.dataset.sid); },
    markerTap(e) {
      const sid = this.vm.sidOfMarker(e.detail.markerId);
      if (sid) this.openStation(sid);
    },
    /** A station's page; a battery-swap station's is its swap page. */
    openStation(sid) {
      const page = this.vm.isSwap(sid) ? '/pages/swapstation/swapstation' : '/pages/station/station';
      wx.navigateTo({ url: page + '?sid=' + encodeURIComponent(sid) });
    },
    swap() { wx.navigateTo({ url: '/pages/swap/swap' }); },
  },
});
