import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../support/processes';

/**
 * What the web client's source must never do, checked on the source itself (the browser
 * tests show the outcome; this names the cause): no string ever becomes markup, no inline
 * script or style sneaks past the CSP, no token goes into storage.
 */
describe('the web client source', () => {
  const dir = join(ROOT, 'web', 'src');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    // The code without its comments (which may name what the code avoids).
    .map((f) => ({
      name: f,
      text: readFileSync(join(dir, f), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/^\s*\/\/.*$/gm, ''),
    }));

  it('exists', () => {
    expect(files.map((f) => f.name)).to.include.members(['main.ts', 'session.ts', 'dom.ts']);
  });

  it('never parses a string as HTML', () => {
    for (const { name, text } of files) {
      for (const sink of [
        'innerHTML',
        'outerHTML',
        'insertAdjacentHTML',
        'document.write',
        'createContextualFragment',
        'DOMParser',
        'eval(',
        'new Function',
      ]) {
        expect(text.includes(sink), `${name} uses ${sink}`).to.equal(false);
      }
    }
  });

  it('sets no inline style attribute and no event-handler attribute (h() refuses them too)', () => {
    for (const { name, text } of files) {
      expect(
        /setAttribute\(\s*['"](style|on\w+)['"]/.test(text),
        `${name} sets style/on* attributes`,
      ).to.equal(false);
    }
  });

  it('keeps tokens out of web storage: only the username hint and the open room are stored', () => {
    const writes = files.flatMap(({ name, text }) =>
      [...text.matchAll(/(localStorage|sessionStorage)\.setItem\(\s*([A-Z_]+)/g)].map(
        (m) => `${name}:${m[1]}:${m[2]}`,
      ),
    );
    expect(writes.sort()).to.deep.equal([
      'chat-app.ts:sessionStorage:ACTIVE_KEY',
      'session.ts:localStorage:HINT_KEY',
    ]);
  });
});
