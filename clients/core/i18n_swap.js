'use strict';
// The battery-swap pages' words (clients/core/pages/swap.js), zh-CN and English; merged into
// i18n.TEXT by clients/core/i18n.js.

module.exports = {
  'zh-CN': {
    swap_title: '换电', swap_stations_title: '附近换电站', swap_station_title: '换电站', map_swap: '换电站',
    swap_no_stations: '附近没有换电站。', swap_kind: '换电站', swap_open: '去换电',
    swap_finder_line: '空闲工位 {free}/{total} · 满电电池 {ready} 块',
    swap_bays_free: '空闲工位 {free}/{total}', swap_bays_detail: '换电中 {swapping} · 维护中 {maintenance}',
    swap_packs: '电池（按型号）', swap_ready_now: '现有满电 {n} 块', swap_charging_n: '充电中 {n} 块',
    swap_ready_by: '{at} 前可用 {n} 块', swap_pack_type: '电池型号', swap_slot: '换电时段',
    swap_slot_length: '每个时段 {m}', swap_slot_left: '余 {n}', swap_slot_no_pack: '无电池', swap_slot_full: '已约满',
    swap_no_slots: '暂无可预约的时段。', swap_disabled: '该站暂不接受换电预约。', swap_fee: '预约费',
    swap_balance: '钱包余额', swap_book: '预约换电', swap_rules_done: '按时换电：预约费{outcome}',
    my_swap: '我的换电预约', no_swap_booking: '当前没有换电预约。', swap_history: '换电记录',
    swap_no_history: '还没有换电记录。', swap_cancel: '取消换电预约',
    swap_state_booked: '已预约', swap_state_used: '已换电', swap_state_cancelled: '已取消',
    swap_state_expired: '已过期（未到）',
  },
  en: {
    swap_title: 'Battery swap', swap_stations_title: 'Swap stations nearby', swap_station_title: 'Swap station',
    map_swap: 'Swap station', swap_no_stations: 'No swap station nearby.', swap_kind: 'Battery swap',
    swap_open: 'Swap here', swap_finder_line: '{free}/{total} bays free · {ready} charged packs',
    swap_bays_free: '{free}/{total} bays free', swap_bays_detail: '{swapping} swapping · {maintenance} in maintenance',
    swap_packs: 'Packs by type', swap_ready_now: '{n} charged now', swap_charging_n: '{n} charging',
    swap_ready_by: '{n} ready by {at}', swap_pack_type: 'Pack type', swap_slot: 'Swap slot',
    swap_slot_length: '{m} slots', swap_slot_left: '{n} left', swap_slot_no_pack: 'no pack', swap_slot_full: 'full',
    swap_no_slots: 'No slot can be booked now.', swap_disabled: 'This station takes no swap bookings.',
    swap_fee: 'Booking fee', swap_balance: 'Wallet balance', swap_book: 'Book the swap',
    swap_rules_done: 'Swap in time: the fee is {outcome}',
    my_swap: 'My swap booking', no_swap_booking: 'You have no swap booking.', swap_history: 'Swap history',
    swap_no_history: 'No swaps yet.', swap_cancel: 'Cancel the swap booking',
    swap_state_booked: 'Booked', swap_state_used: 'Swapped', swap_state_cancelled: 'Cancelled',
    swap_state_expired: 'Expired (not used)',
  },
};
