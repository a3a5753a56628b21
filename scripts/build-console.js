#!/usr/bin/env node
'use strict';
// Copy the console's front-end packages (docs/console.md) from node_modules into
// cloud/web/static/vendor/, which the cloud serves at /console/static/vendor/. Run by
// `npm run build:console` (and so by scripts/setup.sh); the copy is git-ignored, never edited.
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const nm = path.join(root, 'node_modules');
const dest = path.join(root, 'cloud', 'web', 'static', 'vendor');
const FILES = {
  'htmx.min.js': 'htmx.org/dist/htmx.min.js',
  'alpine.min.js': 'alpinejs/dist/cdn.min.js',
  'echarts.min.js': 'echarts/dist/echarts.min.js',
  'leaflet.js': 'leaflet/dist/leaflet.js',
  'leaflet.css': 'leaflet/dist/leaflet.css',
};

fs.rmSync(dest, { recursive: true, force: true });
fs.mkdirSync(dest, { recursive: true });
for (const [name, from] of Object.entries(FILES)) fs.copyFileSync(path.join(nm, from), path.join(dest, name));
// leaflet.css refers to images/… beside it
fs.cpSync(path.join(nm, 'leaflet', 'dist', 'images'), path.join(dest, 'images'), { recursive: true });
fs.writeFileSync(path.join(dest, 'README.md'),
  'Copied from node_modules by `npm run build:console` (scripts/build-console.js). Do not edit here.\n');
console.log('[build] ' + path.relative(root, dest));
