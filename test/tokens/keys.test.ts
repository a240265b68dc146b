import { expect } from 'chai';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  generateSigningKey,
  loadJwksFile,
  loadSigningKey,
  parseJwks,
  privateKeyPem,
  thumbprint,
  toJwk,
  toJwks,
} from '@securechat/tokens';

describe('signing keys and JWKS', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'securechat-keys-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('derives the kid as the RFC 7638 thumbprint of the public key', () => {
    const key = generateSigningKey();
    const jwk = key.publicKey.export({ format: 'jwk' });
    // RFC 7638 §3.2: required members only, in lexicographic order, no whitespace.
    const canonical = `{"crv":"P-256","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}`;
    expect(key.kid).to.equal(createHash('sha256').update(canonical).digest('base64url'));
    expect(thumbprint(key.publicKey)).to.equal(key.kid);
  });

  it('loads a PEM private key back with the same kid', () => {
    const key = generateSigningKey();
    const file = join(dir, 'roundtrip.pem');
    writeFileSync(file, privateKeyPem(key));
    expect(loadSigningKey(file).kid).to.equal(key.kid);
  });

  it('refuses a signing key file that is missing, garbage or not EC', () => {
    expect(() => loadSigningKey(join(dir, 'missing.pem'))).to.throw(/JWT_PRIVATE_KEY_FILE.*ENOENT/);
    writeFileSync(join(dir, 'garbage.pem'), 'not a key');
    expect(() => loadSigningKey(join(dir, 'garbage.pem'))).to.throw(/JWT_PRIVATE_KEY_FILE/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    writeFileSync(join(dir, 'rsa.pem'), rsa.export({ format: 'pem', type: 'pkcs8' }));
    expect(() => loadSigningKey(join(dir, 'rsa.pem'))).to.throw(/EC P-256/);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    writeFileSync(join(dir, 'p384.pem'), p384.export({ format: 'pem', type: 'pkcs8' }));
    expect(() => loadSigningKey(join(dir, 'p384.pem'))).to.throw(/P-256/);
  });

  it('publishes public keys only, with kid, alg and use', () => {
    const key = generateSigningKey();
    const jwk = toJwk(key.publicKey);
    expect(Object.keys(jwk).sort()).to.deep.equal(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    expect(jwk).to.include({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: key.kid });
  });

  it('parses a JWKS of several keys into kid -> key', () => {
    const a = generateSigningKey();
    const b = generateSigningKey();
    const parsed = parseJwks(JSON.parse(JSON.stringify(toJwks([a.publicKey, b.publicKey]))) as unknown);
    expect([...parsed.keys()].sort()).to.deep.equal([a.kid, b.kid].sort());
    expect(parsed.get(a.kid)?.equals(a.publicKey)).to.equal(true);
  });

  it('refuses a JWKS whose kid does not match its key', () => {
    const a = generateSigningKey();
    const b = generateSigningKey();
    const lying = { ...toJwk(a.publicKey), kid: b.kid };
    expect(() => parseJwks({ keys: [lying] })).to.throw(/kid does not match/);
  });

  it('refuses a JWKS entry that holds a private key', () => {
    const key = generateSigningKey();
    const full = key.privateKey.export({ format: 'jwk' });
    expect(() => parseJwks({ keys: [{ ...toJwk(key.publicKey), d: full.d }] })).to.throw(/private key/);
  });

  it('refuses other key types, other algorithms and empty or malformed sets', () => {
    const key = generateSigningKey();
    const jwk = toJwk(key.publicKey);
    expect(() => parseJwks({ keys: [{ ...jwk, alg: 'HS256' }] })).to.throw(/ES256/);
    expect(() => parseJwks({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] })).to.throw(/EC P-256/);
    expect(() => parseJwks({ keys: [{ ...jwk, crv: 'P-384' }] })).to.throw(/EC P-256/);
    expect(() => parseJwks({ keys: [{ ...jwk, x: 'AAAA' }] })).to.throw();
    expect(() => parseJwks({ keys: [] })).to.throw(/no key/);
    expect(() => parseJwks({ keys: ['x'] })).to.throw(/not an object/);
    expect(() => parseJwks([])).to.throw(/JWKS/);
    expect(() => parseJwks(null)).to.throw(/JWKS/);
  });

  it('names JWT_PUBLIC_KEYS_FILE when the file cannot be used', () => {
    expect(() => loadJwksFile(join(dir, 'missing.json'))).to.throw(/JWT_PUBLIC_KEYS_FILE.*ENOENT/);
    writeFileSync(join(dir, 'bad.json'), '{"keys": [');
    expect(() => loadJwksFile(join(dir, 'bad.json'))).to.throw(/JWT_PUBLIC_KEYS_FILE/);
    const key = generateSigningKey();
    writeFileSync(join(dir, 'good.json'), JSON.stringify(toJwks([key.publicKey])));
    expect([...loadJwksFile(join(dir, 'good.json')).keys()]).to.deep.equal([key.kid]);
  });
});
