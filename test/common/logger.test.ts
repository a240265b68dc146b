import { expect } from 'chai';
import { escapeText, redact } from '@securechat/common';
import { memoryLogger } from '../support/logs';

const JWT =
  'eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXRoYXQtaXMtbG9uZy1lbm91Z2g';

describe('logger', () => {
  it('writes one JSON object per line with level, message, service and timestamp', () => {
    const { logger, lines } = memoryLogger('auth');
    logger.info('hello', { n: 1 });
    const [line] = lines();
    expect(line).to.include({ level: 'info', message: 'hello', service: 'auth', n: 1 });
    expect(line?.timestamp).to.be.a('string');
  });

  it('redacts passwords, tokens, secrets and Authorization headers by field name, at any depth', () => {
    const { logger, text, lines } = memoryLogger();
    logger.warn('request', {
      password: 'hunter2-password',
      refresh_token: 'opaque-refresh-value',
      headers: { authorization: 'Bearer abc.def.ghi', Cookie: 'sid=cookie-value' },
      nested: { deeper: { accessToken: 'access-value', client_secret: 'secret-value' } },
      list: [{ newPassword: 'list-password' }],
      privateKey: '-----BEGIN PRIVATE KEY-----',
    });
    for (const secret of [
      'hunter2-password',
      'opaque-refresh-value',
      'abc.def.ghi',
      'cookie-value',
      'access-value',
      'secret-value',
      'list-password',
      'BEGIN PRIVATE KEY',
    ]) {
      expect(text()).not.to.include(secret);
    }
    const line = lines()[0] as Record<string, Record<string, unknown>>;
    expect(line.password).to.equal('[redacted]');
    expect(line.headers).to.deep.equal({ authorization: '[redacted]', Cookie: '[redacted]' });
  });

  it('redacts JWTs, bearer credentials and token query parameters inside free text', () => {
    const { logger, text } = memoryLogger();
    logger.info(`upgrade /ws?token=${JWT}&room=a`, {
      url: `/ws?access_token=opaque123&x=1`,
      note: `Bearer ${JWT}`,
    });
    logger.info('header', { raw: 'authorization: Bearer sometoken.value' });
    expect(text()).not.to.include(JWT.split('.')[1] as string);
    expect(text()).not.to.include('opaque123');
    expect(text()).not.to.include('sometoken.value');
    expect(text()).to.include('room=a');
  });

  it('redacts a token parameter whatever the encoding of its name', () => {
    const { logger, text } = memoryLogger();
    logger.info(`GET /ws?%74oken=opaque-a&%2574%256Fken=opaque-b&x=1`, {
      url: '/ws?room=a;T%4FKEN=opaque-c&Access_Token=opaque-d&client_secret=opaque-e',
    });
    for (const secret of ['opaque-a', 'opaque-b', 'opaque-c', 'opaque-d', 'opaque-e']) {
      expect(text()).not.to.include(secret);
    }
    expect(text()).to.include('%74oken=[redacted]');
    expect(text()).to.include('x=1');
    expect(text()).to.include('room=a');
  });

  it('escapes control characters so that input cannot forge or split log lines', () => {
    const { logger, text, lines } = memoryLogger();
    const hostile =
      'bob\n{"level":"info","message":"forged"}\r\u001b[31mred\u0000\u007f\u0085\u2028\u2029end';
    logger.info('login_failure', { username: hostile, [`key\nwith\u2028breaks`]: 1 });
    const raw = text();
    expect(raw.split('\n').filter((l) => l !== '')).to.have.length(1);
    // eslint-disable-next-line no-control-regex
    expect(raw.slice(0, -1)).not.to.match(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
    expect(lines()).to.have.length(1);
    expect(lines()[0]?.message).to.equal('login_failure');
    expect(String(lines()[0]?.username)).to.include('end');
  });

  it('logs an Error as its name and message, never its stack', () => {
    const { logger, text } = memoryLogger();
    const err = new Error('redis down');
    logger.error('request failed', { err });
    expect(text()).to.include('redis down');
    expect(text()).not.to.include('logger.test');
    expect(text()).not.to.match(/\bat .+:\d+:\d+/);
  });

  it('redact() and escapeText() leave ordinary values alone', () => {
    expect(redact({ username: 'alice', count: 3, ok: true, none: null })).to.deep.equal({
      username: 'alice',
      count: 3,
      ok: true,
      none: null,
    });
    expect(escapeText('plain text 123')).to.equal('plain text 123');
    expect(escapeText('a\u2028b')).to.equal('a\\u2028b');
  });
});
