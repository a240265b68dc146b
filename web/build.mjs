#!/usr/bin/env node
// Builds the web client into web/dist: web/src/main.ts and its imports (the browser SDK
// among them) bundled by esbuild into one minified ES module, app.js, beside the static
// files of web/public. `npm run build` runs it after tsc (which type-checks web/src);
// nginx and embedded mode serve web/dist. `--watch` rebuilds on change.
import { build, context } from 'esbuild';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'dist');

const options = {
  entryPoints: [join(here, 'src', 'main.ts')],
  outfile: join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome111', 'firefox111', 'safari16.4'],
  minify: true,
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
};

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
cpSync(join(here, 'public'), out, { recursive: true });

if (process.argv.includes('--watch')) {
  const ctx = await context(options);
  await ctx.watch();
  process.stdout.write('web: watching web/src (web/public is copied once)\n');
} else {
  await build(options);
}
