import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadSigningKey, parseJwks } from '@securechat/tokens';

/** The compiled CLI behind `npm run keys -- <dir>`. */
const CLI = resolve(__dirname, '..', '..', '..', 'packages', 'tokens', 'dist', 'cli-keys.js');

function keys(...args: string[]) {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 10_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('npm run keys -- <dir>', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'securechat-cli-'));
  });
  after(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('writes private.pem (mode 0600) and the matching jwks.json', () => {
    const dir = join(root, 'first');
    const run = keys(dir);
    expect(run.status, run.stderr).to.equal(0);
    expect(statSync(join(dir, 'private.pem')).mode & 0o777).to.equal(0o600);
    const key = loadSigningKey(join(dir, 'private.pem'));
    const jwks = JSON.parse(readFileSync(join(dir, 'jwks.json'), 'utf8')) as {
      keys: Record<string, unknown>[];
    };
    expect(jwks.keys).to.have.length(1);
    expect(jwks.keys[0]).not.to.have.property('d');
    expect([...parseJwks(jwks).keys()]).to.deep.equal([key.kid]);
    expect(run.stdout).to.include(key.kid);
  });

  it('refuses to overwrite an existing key or key set', () => {
    const dir = join(root, 'twice');
    expect(keys(dir).status).to.equal(0);
    const before = readFileSync(join(dir, 'private.pem'), 'utf8');
    const again = keys(dir);
    expect(again.status).to.equal(1);
    expect(again.stderr).to.match(/private\.pem exists/);
    expect(readFileSync(join(dir, 'private.pem'), 'utf8')).to.equal(before);

    const onlyJwks = join(root, 'only-jwks');
    mkdirSync(onlyJwks);
    writeFileSync(join(onlyJwks, 'jwks.json'), '{"keys":[]}');
    const run = keys(onlyJwks);
    expect(run.status).to.equal(1);
    expect(run.stderr).to.match(/jwks\.json exists/);
    expect(readFileSync(join(onlyJwks, 'jwks.json'), 'utf8')).to.equal('{"keys":[]}');
  });

  it('--keep puts the previous public keys in the new set, for a rotation', () => {
    const old = join(root, 'old');
    const next = join(root, 'next');
    expect(keys(old).status).to.equal(0);
    const run = keys(next, '--keep', join(old, 'jwks.json'));
    expect(run.status, run.stderr).to.equal(0);
    const kids = [...parseJwks(JSON.parse(readFileSync(join(next, 'jwks.json'), 'utf8')) as unknown).keys()];
    const oldKid = loadSigningKey(join(old, 'private.pem')).kid;
    const newKid = loadSigningKey(join(next, 'private.pem')).kid;
    expect(kids).to.deep.equal([newKid, oldKid]);
  });

  it('reports a bad --keep file and a bad command line in one line, writing nothing', () => {
    const dir = join(root, 'bad-keep');
    const run = keys(dir, '--keep', join(root, 'missing.json'));
    expect(run.status).to.equal(1);
    expect(run.stderr.trim().split('\n')).to.have.length(1);
    expect(run.stderr).to.match(/--keep .*missing\.json/);
    expect(() => statSync(join(dir, 'private.pem'))).to.throw();
    const usage = keys();
    expect(usage.status).to.equal(2);
    expect(usage.stderr).to.match(/^usage: npm run keys -- <dir>/);
    expect(keys(dir, '--keep').status).to.equal(2);
  });
});
