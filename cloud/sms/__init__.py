"""SMS: a provider interface (`provider.SmsProvider.send(phone, template_code, params)`), the
log provider (the default) and a client of Aliyun SMS (`aliyun`, its signed SendSms)."""
