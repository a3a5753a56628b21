"""WeChat mini-program services other than payments: login (`login.code2session`).
The local fake server is `cloud.fakes.wechat_login`."""
