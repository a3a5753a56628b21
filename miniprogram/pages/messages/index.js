const shell = require('../../shell');
const notices = require('../../notices');

// The driver's messages (reservation reminders, system notices); ?id=<message id> (what a
// subscribe message opens) shows that one opened. Opening one marks it read; "mark all read"
// marks the rest. "Receive WeChat notifications" asks the reminder and notice consents
// (miniprogram/notices.js).
Component({
  data: { s: {}, t: {} },
  lifetimes: {
    attached() { shell.attach(this, 'messages', 'createMessages'); },
    detached() { shell.detach(this); },
  },
  methods: {
    onLoad(query) {
      if (!shell.requireLogin(this)) return Promise.resolve();
      shell.title(this, 'messages_title');
      const id = (query && query.id) || '';
      const templates = notices.loadTemplates(this.ctx.api).then((r) => this.vm.setTemplates(r));
      return Promise.all([this.vm.open(id), templates]).then(() => {
        if (id && !this.vm.state.notFound && wx.pageScrollTo) wx.pageScrollTo({ selector: '#m-' + this.vm.state.openId, duration: 0 });
      });
    },
    onPullDownRefresh() { return this.vm.open(this.vm.state.openId).then(() => wx.stopPullDownRefresh()); },
    onReachBottom() { return this.vm.more(); },
    more() { return this.vm.more(); },
    select(e) { return this.vm.select(e.currentTarget.dataset.id); },
    readAll() { return this.vm.readAll(); },
    subscribe() { return notices.askMessages(this.ctx.api).then((r) => { this.vm.subscribed(r); return r; }); },
  },
});
