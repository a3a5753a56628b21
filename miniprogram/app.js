// The mini-program: pages are thin shells over the shared page logic in core/ (a copy of
// clients/core made by `npm run build`; docs/clients.md).
App({});
