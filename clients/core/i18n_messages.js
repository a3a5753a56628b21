'use strict';
// The messages page's words (clients/core/pages/messages.js) and the settings' reminder lead
// time and unread badge (clients/core/pages/settings.js), zh-CN and English; merged into
// i18n.TEXT by clients/core/i18n.js. The messages themselves come from the API in the
// driver's language.

module.exports = {
  'zh-CN': {
    messages_title: '消息', my_messages: '我的消息', no_messages: '还没有消息。', messages_more: '更多',
    message_kind_reminder: '预约提醒', message_kind_notice: '系统通知', message_at: '时间：{at}',
    message_pushed: '已通过微信通知', message_not_found: '没有找到这条消息。',
    messages_subscribe: '接收微信通知', messages_subscribe_hint: '每次允许可收到一条微信通知。',
    messages_consents: '还可收到：预约提醒 {reminder} 条，系统通知 {notice} 条',
    messages_subscribed: '已允许 {n} 类微信通知。', messages_subscribe_none: '没有允许微信通知。',
    messages_subscribe_off: '本平台暂未开通微信通知。',
    message_unread: '未读', messages_unread: '{n} 条未读', messages_read_all: '全部标为已读',
    messages_all_read: '已全部标为已读。', unread_badge_more: '99+',
    remind_title: '预约提醒', remind_hint: '在预约到期或换电时段开始前多久提醒您。',
    remind_off: '不提醒', remind_minutes: '提前 {n} 分钟', remind_default: '（默认）',
    remind_now: '当前：{what}', remind_saved: '预约提醒已设为：{what}',
    remind_consents: '还可通过微信推送 {n} 条预约提醒，其余只在“我的消息”中显示。',
  },
  en: {
    messages_title: 'Messages', my_messages: 'My messages', no_messages: 'No messages yet.', messages_more: 'More',
    message_kind_reminder: 'Reservation reminder', message_kind_notice: 'Notice', message_at: 'Time: {at}',
    message_pushed: 'Sent to WeChat', message_not_found: 'That message was not found.',
    messages_subscribe: 'Receive WeChat notifications', messages_subscribe_hint: 'Each allow lets one WeChat notification through.',
    messages_consents: 'Still allowed: {reminder} reservation reminders, {notice} notices',
    messages_subscribed: 'Allowed {n} kind(s) of WeChat notification.', messages_subscribe_none: 'No WeChat notification allowed.',
    messages_subscribe_off: 'WeChat notifications are not set up on this platform.',
    message_unread: 'Unread', messages_unread: '{n} unread', messages_read_all: 'Mark all read',
    messages_all_read: 'All marked read.', unread_badge_more: '99+',
    remind_title: 'Reservation reminders', remind_hint: 'How long before a reservation ends or a swap slot starts you are reminded.',
    remind_off: 'Off', remind_minutes: '{n} min before', remind_default: ' (default)',
    remind_now: 'Now: {what}', remind_saved: 'Reservation reminders set to: {what}',
    remind_consents: '{n} more reminder(s) may be pushed to WeChat; the rest show in My messages only.',
  },
};
