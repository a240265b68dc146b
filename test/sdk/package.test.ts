import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { ROOT } from '../support/processes';

const SDK = join(ROOT, 'packages', 'sdk');

/**
 * `npm pack` gives an installable public package: the tarball is unpacked into a
 * project's node_modules (its one dependency, ws, linked from ours: no registry needed)
 * and used there as a Node program, a browser bundle and a TypeScript project would.
 */
describe('the SDK as a published package', function () {
  this.timeout(120_000);
  let dir: string;
  let files: string[];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sdk-pack-'));
    const out = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], {
      cwd: SDK,
      encoding: 'utf8',
    });
    const tarball = join(dir, out.trim().split('\n').at(-1) as string);
    files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n');
    const installed = join(dir, 'app', 'node_modules', '@securechat', 'sdk');
    mkdirSync(installed, { recursive: true });
    execFileSync('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1']);
    for (const dep of ['ws', '@types'])
      symlinkSync(join(ROOT, 'node_modules', dep), join(dir, 'app', 'node_modules', dep));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('is public and ships the builds, their types and a README, nothing else', () => {
    const pkg = JSON.parse(readFileSync(join(SDK, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg['private']).to.equal(undefined);
    for (const file of [
      'package/package.json',
      'package/README.md',
      'package/dist/index.js',
      'package/dist/index.d.ts',
      'package/dist/browser.mjs',
      'package/dist/browser.d.ts',
    ]) {
      expect(files, file).to.include(file);
    }
    expect(files.filter((f) => /tsbuildinfo|\.test\.|node_modules/.test(f))).to.deep.equal([]);
  });

  it('runs in Node from require and from import', () => {
    const app = join(dir, 'app');
    const cjs = execFileSync(
      'node',
      ['-e', "const s = require('@securechat/sdk'); console.log(typeof s.ChatClient, typeof s.Connection)"],
      {
        cwd: app,
        encoding: 'utf8',
      },
    );
    expect(cjs.trim()).to.equal('function function');
    const esm = execFileSync(
      'node',
      [
        '--input-type=module',
        '-e',
        "import { ChatClient, compareMessageIds } from '@securechat/sdk'; console.log(typeof ChatClient, compareMessageIds('9-0', '10-0'))",
      ],
      { cwd: app, encoding: 'utf8' },
    );
    expect(esm.trim()).to.equal('function -1');
  });

  it('bundles for browsers with no Node built-in, by its browser entry and by the browser condition', () => {
    const app = join(dir, 'app');
    for (const [name, source] of [
      ['entry.js', "import { ChatClient } from '@securechat/sdk/browser'; globalThis.c = ChatClient;"],
      ['condition.js', "import { ChatClient } from '@securechat/sdk'; globalThis.c = ChatClient;"],
    ] as const) {
      writeFileSync(join(app, name), source);
      const result = buildSync({
        entryPoints: [join(app, name)],
        bundle: true,
        platform: 'browser',
        format: 'esm',
        write: false,
        logLevel: 'silent',
      });
      const code = result.outputFiles[0]?.text ?? '';
      expect(code, name).to.include('bearer.');
      expect(code, name).to.not.match(/require\(|from ["']ws["']|["']node:/);
    }
  });

  it('type-checks a TypeScript consumer of either build', () => {
    const app = join(dir, 'app');
    writeFileSync(
      join(app, 'app.ts'),
      `import { ChatClient, type ConversationItem } from '@securechat/sdk/browser';
import { ChatClient as NodeClient } from '@securechat/sdk';
const b = new ChatClient({ url: 'wss://x/ws', getToken: async () => 't' });
const n = new NodeClient({ url: 'wss://x/ws', getToken: async () => 't', origin: 'https://x' });
b.on('rate_limited', (info) => info.until.toFixed());
n.on('read', (r) => r.room.toUpperCase());
export async function f(): Promise<ConversationItem[]> { await b.markRead('r', '1-0'); return n.conversations(); }
`,
    );
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          module: 'esnext',
          moduleResolution: 'bundler',
          target: 'es2022',
          lib: ['es2022', 'dom'],
          types: [],
          skipLibCheck: true,
        },
        files: ['app.ts'],
      }),
    );
    execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], {
      encoding: 'utf8',
    });
  });
});
