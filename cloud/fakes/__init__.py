"""Local fakes of the outside services the cloud cannot reach in tests and the demo:
WeChat Pay API v3 (`wechatpay`) and WeChat mini-program login (`wechat_login`), served over
real HTTP (`http`, `server`; `python -m cloud.fakes`) and checking what they receive."""
