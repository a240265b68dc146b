import { expect } from 'chai';
import { bcryptjsPrimitives, passwordAcceptable, PasswordHasher } from '@securechat/auth';
import { countingBcrypt, type Trace } from '../support/auth-node';

describe('passwords', () => {
  const a72 = 'a'.repeat(72);

  it('accepts 8 characters to 72 UTF-8 bytes, counting characters and bytes', () => {
    expect(passwordAcceptable('12345678')).to.equal(true);
    expect(passwordAcceptable('1234567')).to.equal(false);
    expect(passwordAcceptable(a72)).to.equal(true);
    expect(passwordAcceptable(`${a72}a`)).to.equal(false);
    expect(passwordAcceptable('é'.repeat(36))).to.equal(true); // 72 bytes
    expect(passwordAcceptable('é'.repeat(37))).to.equal(false); // 74 bytes
    expect(passwordAcceptable('é'.repeat(4))).to.equal(false); // 8 bytes, 4 characters
    expect(passwordAcceptable('😀'.repeat(7))).to.equal(false); // 14 UTF-16 units, 7 characters
    expect(passwordAcceptable('😀'.repeat(8))).to.equal(true);
  });

  it('never lets bcrypt truncate: a longer password does not match its first 72 bytes', async () => {
    const hasher = new PasswordHasher(10);
    const hash = await hasher.hash(a72);
    expect(await hasher.verify(a72, hash)).to.equal(true);
    // bcryptjs alone says true here: it ignores everything past byte 72.
    expect(await bcryptjsPrimitives.compare(`${a72}Y`, hash)).to.equal(true);
    expect(await hasher.verify(`${a72}Y`, hash)).to.equal(false);
    let refused: unknown;
    await hasher.hash(`${a72}X`).catch((err: unknown) => (refused = err));
    expect(refused).to.be.instanceOf(RangeError);
  });

  it('runs exactly one compare for a known user, an unknown user and an over-long password', async () => {
    const calls: Trace = [];
    const impl = countingBcrypt(calls);
    const hasher = new PasswordHasher(10, impl);
    await hasher.ready();
    const hash = await hasher.hash('right-password');
    calls.length = 0;
    expect(await hasher.verify('wrong-password', hash)).to.equal(false);
    expect(calls).to.deep.equal(['bcrypt.compare']);
    expect(await hasher.verify('right-password', undefined)).to.equal(false);
    expect(calls).to.deep.equal(['bcrypt.compare', 'bcrypt.compare']);
    expect(await hasher.verify('x'.repeat(100), hash)).to.equal(false);
    expect(calls).to.deep.equal(['bcrypt.compare', 'bcrypt.compare', 'bcrypt.compare']);
  });

  it('hashes the dummy at the configured cost, and refuses a cost under 10', async () => {
    const calls: Trace = [];
    const impl = countingBcrypt(calls);
    await new PasswordHasher(10, impl).ready();
    expect(calls).to.deep.equal(['bcrypt.hash']);
    expect(() => new PasswordHasher(9)).to.throw(RangeError);
    expect(() => new PasswordHasher(4)).to.throw(/at least 10/);
  });
});
