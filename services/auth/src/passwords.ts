import bcrypt from 'bcryptjs';
import { randomBytes } from 'node:crypto';
import { MAX_PASSWORD_BYTES } from './validation';

/**
 * bcrypt hashing with the 72-byte cap enforced, and a dummy hash of the same cost so
 * that a login for an unknown user costs the same as one with a wrong password.
 */
export class PasswordHasher {
  private readonly dummy: Promise<string>;

  constructor(private readonly cost: number) {
    this.dummy = bcrypt.hash(randomBytes(24).toString('base64url'), cost);
  }

  hash(password: string): Promise<string> {
    if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
      return Promise.reject(new RangeError('password over 72 bytes'));
    }
    return bcrypt.hash(password, this.cost);
  }

  /** Always runs one bcrypt comparison, against the dummy hash when there is no user. */
  async verify(password: string, hash: string | undefined): Promise<boolean> {
    const target = hash ?? (await this.dummy);
    const tooLong = Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES;
    const matches = await bcrypt.compare(tooLong ? '' : password, target);
    return matches && hash !== undefined && !tooLong;
  }

  /** Resolves once the dummy hash exists (so the first login is not faster). */
  async ready(): Promise<void> {
    await this.dummy;
  }
}
