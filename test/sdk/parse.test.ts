import { expect } from 'chai';
import { parseServerFrame, parseServerMessage } from '@securechat/sdk';

describe('sdk server message parser', () => {
  const valid: Record<string, unknown>[] = [
    { type: 'welcome', user: 'ann', node: 'n1', session: 's1' },
    {
      type: 'welcome',
      user: 'ann',
      node: 'n1',
      session: 's1',
      limits: { messages: 10, window_ms: 60000 },
      max_message_bytes: 65536,
    },
    { type: 'joined', room: 'r', members: ['ann', 'bob'], ref: '1' },
    { type: 'joined', room: 'r', members: [], history_truncated: true, ref: '2' },
    { type: 'left', room: 'r', ref: '3' },
    { type: 'ack', id: '1-0', ref: '4' },
    { type: 'message', room: 'r', id: '1-0', from: 'ann', text: 'hi', ts: 5 },
    { type: 'presence', room: 'r', user: 'bob', state: 'offline' },
    {
      type: 'history',
      room: 'r',
      messages: [{ room: 'r', id: '1-0', from: 'ann', text: 'hi', ts: 5 }],
      ref: '5',
    },
    {
      type: 'history',
      room: 'r',
      messages: [{ room: 'r', id: '2-0', from: 'ann', text: 'hi', ts: 5 }],
      more: true,
      ref: '5b',
    },
    { type: 'replay_more', room: 'r', last: '1-0' },
    { type: 'token_refreshed', exp: 99, ref: '6' },
    { type: 'pong', ref: '7' },
    { type: 'pong' },
    { type: 'error', code: 'rate_limited', message: 'slow down', ref: '8', retry_after_ms: 1500 },
    { type: 'error', code: 'internal', message: 'oops' },
  ];

  it('accepts every server message of the protocol as sent', () => {
    for (const frame of valid) {
      expect(parseServerFrame(JSON.stringify(frame))).to.deep.equal({ kind: 'message', message: frame });
    }
  });

  it('keeps only known fields and fills a history element room from the reply', () => {
    const parsed = parseServerMessage({
      type: 'history',
      room: 'r',
      messages: [{ type: 'message', id: '1-0', from: 'a', text: 't', ts: 1, extra: true }],
      extra: 1,
    });
    expect(parsed).to.deep.equal({
      kind: 'message',
      message: {
        type: 'history',
        room: 'r',
        messages: [{ room: 'r', id: '1-0', from: 'a', text: 't', ts: 1 }],
      },
    });
  });

  it('reports unknown types as unknown, so that they can be ignored', () => {
    expect(parseServerMessage({ type: 'typing', room: 'r' })).to.deep.equal({
      kind: 'unknown',
      type: 'typing',
    });
  });

  it('reports malformed frames and wrong shapes as invalid', () => {
    const bad: unknown[] = [
      null,
      [],
      'message',
      { room: 'r' },
      { type: 7 },
      { type: 'message', room: 'r', id: 1, from: 'a', text: 't', ts: 1 },
      { type: 'message', room: 'r', id: '1-0', from: 'a', text: 't', ts: '1' },
      { type: 'joined', room: 'r', members: 'ann' },
      { type: 'joined', room: 'r', members: [1] },
      { type: 'joined', room: 'r', members: [], history_truncated: 'yes' },
      { type: 'presence', room: 'r', user: 'u', state: 'away' },
      { type: 'error', code: 'internal' },
      { type: 'error', code: 'rate_limited', message: 'm', retry_after_ms: 'soon' },
      { type: 'ack', id: '1-0', ref: 5 },
      { type: 'history', room: 'r', messages: [null] },
      { type: 'history', room: 'r', messages: [], more: 'yes' },
      { type: 'replay_more', room: 'r' },
      { type: 'token_refreshed', exp: Infinity },
      { type: 'welcome', user: 'ann', node: 'n1', session: 's1', max_message_bytes: '65536' },
    ];
    for (const value of bad)
      expect(parseServerMessage(value).kind, JSON.stringify(value)).to.equal('invalid');
    expect(parseServerFrame('{not json').kind).to.equal('invalid');
  });

  it('is not fooled by a __proto__ key', () => {
    const parsed = parseServerFrame(
      '{"type":"message","room":"r","id":"1-0","from":"a","text":"t","ts":1,"__proto__":{"polluted":true}}',
    );
    expect(parsed.kind).to.equal('message');
    expect(({} as Record<string, unknown>)['polluted']).to.equal(undefined);
    if (parsed.kind === 'message') expect(Object.keys(parsed.message)).to.not.include('__proto__');
  });
});
