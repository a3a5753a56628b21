'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const i18n = require('../i18n');
const { memoryStorage } = require('../api');

test('both languages have the same keys', () => {
  assert.deepEqual(Object.keys(i18n.TEXT.en).sort(), Object.keys(i18n.TEXT['zh-CN']).sort());
});

test('zh-CN first; English when chosen, and the choice is kept', () => {
  const s = memoryStorage();
  assert.equal(i18n.loadLang(s), 'zh-CN');
  assert.equal(i18n.t(i18n.loadLang(s), 'start_button'), '开始充电');
  i18n.saveLang(s, 'en-GB');
  assert.equal(i18n.loadLang(s), 'en');
  assert.equal(i18n.t('en', 'guns_free', { free: 2, total: 4 }), '2/4 free');
  assert.equal(i18n.t('zh-CN', 'guns_free', { free: 2, total: 4 }), '空闲 2/4');
  assert.equal(i18n.normalizeLang('fr'), 'zh-CN');
});
