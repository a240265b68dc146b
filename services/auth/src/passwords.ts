import bcrypt from 'bcryptjs';
import { randomBytes } from 'node:crypto';
import { MAX_PASSWORD_BYTES } from './validation';

/** The lowest bcrypt cost accepted (BCRYPT_COST has the same floor). */
export const MIN_BCRYPT_COST = 10;

/** The two bcrypt operations; injectable so that tests can count what a request runs. */
export interface BcryptPrimitives {
  hash(password: string, cost: number): Promise<string>;
  compare(password: string, hash: string): Promise<boolean>;
}

/** bcryptjs: pure JS, so it runs on the event loop (which is why the limiter goes first). */
export const bcryptjsPrimitives: BcryptPrimitives = bcrypt;

/**
 * bcrypt hashing with the 72-byte cap enforced, and a dummy hash of the same cost so
 * that a login for an unknown user costs the same as one with a wrong password.
 */
export class PasswordHasher {
  private readonly dummy: Promise<string>;

  constructor(
    private readonly cost: number,
    private readonly bcryptImpl: BcryptPrimitives = bcryptjsPrimitives,
  ) {
    if (!Number.isInteger(cost) || cost < MIN_BCRYPT_COST) {
      throw new RangeError(`bcrypt cost must be at least ${MIN_BCRYPT_COST}`);
    }
    this.dummy = bcryptImpl.hash(randomBytes(24).toString('base64url'), cost);
  }

  hash(password: string): Promise<string> {
    if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
      return Promise.reject(new RangeError('password over 72 bytes'));
    }
    return this.bcryptImpl.hash(password, this.cost);
  }

  /** Always runs one bcrypt comparison, against the dummy hash when there is no user. */
  async verify(password: string, hash: string | undefined): Promise<boolean> {
    const target = hash ?? (await this.dummy);
    // bcrypt would compare only the first 72 bytes: a longer password never matches.
    const tooLong = Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES;
    const matches = await this.bcryptImpl.compare(tooLong ? '' : password, target);
    return matches && hash !== undefined && !tooLong;
  }

  /** Resolves once the dummy hash exists (so the first login is not faster). */
  async ready(): Promise<void> {
    await this.dummy;
  }
}
