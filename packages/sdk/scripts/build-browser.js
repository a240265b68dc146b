#!/usr/bin/env node
// The SDK's browser build: src/browser.ts bundled by esbuild into one ESM file with no
// Node built-ins (platform "browser" fails the build if anything reaches for one).
// `tsc --build` has already written the types (dist/browser.d.ts). With --size, prints
// the minified + gzipped size that docs/SDK.md states.
'use strict';
const { buildSync } = require('esbuild');
const { gzipSync } = require('node:zlib');
const { join } = require('node:path');

const root = join(__dirname, '..');
const common = {
  entryPoints: [join(root, 'src', 'browser.ts')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020'],
  legalComments: 'none',
  logLevel: 'warning',
};

buildSync({ ...common, outfile: join(root, 'dist', 'browser.mjs'), sourcemap: true });
const minified = buildSync({ ...common, minify: true, write: false }).outputFiles[0].contents;

if (process.argv.includes('--size')) {
  const gzipped = gzipSync(minified, { level: 9 }).length;
  console.log(`browser build: ${minified.length} bytes minified, ${gzipped} bytes minified+gzipped`);
}
