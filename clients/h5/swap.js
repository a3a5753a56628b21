'use strict';
// The H5 app's battery-swap routes (cloud/h5/templates/h5/swap.html): #/swap (swap stations
// near the driver), #/swapstation/<sid> (a swap station: packs, book a slot), #/swapbooking
// (my booking, cancel, history). The view models are clients/core/pages/swap.js.
const core = require('../core');

const S = core.pages.swap;
const FACTORIES = { swap: S.createSwapStations, swapstation: S.createSwapStation, swapbooking: S.createSwapBooking };

/** Open route `r` ({name, arg, query}) on its view model; `locate(vm)` asks the browser's position. */
function show(r, vm, locate) {
  if (r.name === 'swap') locate(vm);
  else if (r.name === 'swapstation') vm.load(r.arg);
  else if (r.name === 'swapbooking') vm.open();
}

/** The hash of a station's page in the finder: a swap station's is its swap page. */
function stationHash(sid, kind) {
  return (kind === 'swap' ? '#/swapstation/' : '#/station/') + encodeURIComponent(sid);
}

module.exports = { FACTORIES, show, stationHash };
