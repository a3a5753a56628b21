#!/usr/bin/env node
'use strict';
// Build the driver clients from clients/core (docs/clients.md), run by `npm run build` (and so
// by scripts/setup.sh):
//   miniprogram: copy clients/core into miniprogram/core, since a mini-program can only
//                require files inside its own root; the copy is git-ignored, never edited.
//   h5:          bundle clients/h5/app.js (with core, Alpine.js and Leaflet) into
//                cloud/h5/static/dist/app.js (+ app.css, Leaflet's styles) with esbuild;
//                git-ignored too.
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const coreDir = path.join(__dirname, 'core');

function copyCore() {
  const dest = path.join(root, 'miniprogram', 'core');
  fs.rmSync(dest, { recursive: true, force: true });
  fs.cpSync(coreDir, dest, { recursive: true, filter: (src) => path.basename(src) !== 'test' });
  fs.writeFileSync(path.join(dest, 'README.md'),
    'Copied from clients/core by `npm run build` (clients/build.js). Do not edit here; edit clients/core.\n');
  return dest;
}

function bundleH5() {
  const esbuild = require('esbuild');
  const outfile = path.join(root, 'cloud', 'h5', 'static', 'dist', 'app.js');
  esbuild.buildSync({
    entryPoints: [path.join(__dirname, 'h5', 'app.js')],
    bundle: true,
    format: 'iife',
    target: ['es2019'],
    minify: true,
    sourcemap: true,
    legalComments: 'linked',
    // Leaflet's stylesheet goes to dist/app.css beside the script; its few images inline
    loader: { '.png': 'dataurl', '.svg': 'dataurl' },
    outfile,
    logLevel: 'warning',
  });
  return outfile;
}

const which = process.argv[2] || 'all';
if (which === 'all' || which === 'miniprogram') console.log('[build] ' + path.relative(root, copyCore()));
if (which === 'all' || which === 'h5') console.log('[build] ' + path.relative(root, bundleH5()));
