'use strict';
// The driver clients' shared page logic (docs/clients.md): the mini-program (miniprogram/)
// and the H5 app (cloud/h5/) are thin shells over these modules.
const api = require('./api');
const format = require('./format');
const i18n = require('./i18n');
const geo = require('./geo');
const store = require('./store');
const { createContext } = require('./context');

module.exports = {
  api, format, i18n, geo, store, createContext,
  pages: {
    login: require('./pages/login'),
    stations: require('./pages/stations'),
    station: require('./pages/station'),
    scan: require('./pages/scan'),
    charging: require('./pages/charging'),
    order: require('./pages/order'),
    wallet: require('./pages/wallet'),
    records: require('./pages/records'),
    settings: require('./pages/settings'),
    trip: require('./pages/trip'),
    reservation: require('./pages/reservation'),
    community: require('./pages/community'),
    swap: require('./pages/swap'),
    pile: require('./pages/pile'),
    messages: require('./pages/messages'),
  },
};
