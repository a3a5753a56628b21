const shell = require('../../shell');

Component({
  data: { s: {}, t: {} },
  lifetimes: {
    attached() { shell.attach(this, 'login', 'createLogin'); },
    detached() { shell.detach(this); },
  },
  methods: {
    onLoad() { shell.title(this, 'login_title'); },
    login() {
      return new Promise((resolve) => {
        wx.login({
          success: (res) => resolve(this.vm.login(res.code)),
          fail: () => { this.vm.store.set({ error: this.ctx.t('network_error') }); resolve(undefined); },
        });
      }).then((r) => {
        if (r) wx.switchTab({ url: '/pages/stations/stations' });
        return r;
      });
    },
  },
});
