// Where the cloud's driver API is: its HTTPS origin, which must also be listed as a "request
// legal domain" in the mini-program's settings on mp.weixin.qq.com. Tests point the pages at
// a locally started cloud with shell.configure({ baseUrl }).
module.exports = {
  apiBase: 'https://juchong.example.cn',
  // the session receipt's subscribe-message template id: the same as the cloud's
  // WECHAT_SUBSCRIBE_RECEIPT_TEMPLATE (empty: receipts are off, the start asks nothing)
  receiptTemplate: '',
};
