const shell = require('../../shell');

Component({
  data: { s: {}, t: {} },
  lifetimes: {
    attached() { shell.attach(this, 'station', 'createStation'); },
    detached() { shell.detach(this); },
  },
  methods: {
    onLoad(query) {
      if (!shell.requireLogin(this)) return Promise.resolve();
      this.sid = query.sid;
      return this.vm.load(query.sid).then((st) => { if (st) wx.setNavigationBarTitle({ title: st.name || st.sid }); });
    },
    navigate() {
      const st = this.vm.state.station;
      wx.openLocation({ latitude: st.lat, longitude: st.lng, name: st.name, address: st.address || '' });
    },
    scan(e) { wx.navigateTo({ url: '/pages/scan/scan?g=' + encodeURIComponent(e.currentTarget.dataset.code) }); },
    community() { wx.navigateTo({ url: '/pages/community/community?sid=' + encodeURIComponent(this.sid) }); },
    report(e) { wx.navigateTo({ url: '/pages/report/report?g=' + encodeURIComponent(e.currentTarget.dataset.code) }); },
    reserve(e) { wx.navigateTo({ url: '/pages/reservation/reservation?g=' + encodeURIComponent(e.currentTarget.dataset.code) }); },
  },
});
