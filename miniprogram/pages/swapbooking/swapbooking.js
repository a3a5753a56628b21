const shell = require('../../shell');

// The driver's swap booking (cancel) and the history (clients/core/pages/swap.js createSwapBooking).
Component({
  data: { s: {}, t: {} },
  lifetimes: {
    attached() { shell.attach(this, 'swap', 'createSwapBooking'); },
    detached() { shell.detach(this); },
  },
  methods: {
    onLoad() {
      if (!shell.requireLogin(this)) return Promise.resolve();
      shell.title(this, 'my_swap');
      return this.vm.open();
    },
    cancel() { return this.vm.cancel(); },
  },
});
