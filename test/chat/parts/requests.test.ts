import { expect } from 'chai';
import { generateSigningKey, TokenVerifier } from '@securechat/tokens';
import { Enforcement, ReadSlots, RequestHandler, Rooms } from '@securechat/chat';
import { waitFor } from '../../support/wait';
import { memoryNode, session } from './fakes';

function handlerOn(
  node: ReturnType<typeof memoryNode>,
  rateLimits = { max: 2, windowMs: 60_000, blockAfterViolations: 3, blockDurationS: 60 },
) {
  const key = generateSigningKey();
  const enforcement = new Enforcement({
    hub: node.hub,
    state: node.state,
    audit: node.audit,
    logger: node.log.logger,
    expiryToleranceMs: 0,
  });
  const rooms = new Rooms({
    hub: node.hub,
    broker: node.state.broker,
    presence: node.state.presence,
    historyMaxLen: 1000,
    pageMaxBytes: 256 * 1024,
    replayMaxBytes: 4 * 1024 * 1024,
    reads: new ReadSlots(4),
    logger: node.log.logger,
  });
  return new RequestHandler({
    rooms,
    enforcement,
    audit: node.audit,
    broker: node.state.broker,
    inbox: node.state.inbox,
    revocations: node.state.revocations,
    verifier: new TokenVerifier(new Map([[key.kid, key.publicKey]]), { issuer: 'i', audience: 'a' }),
    rateLimits,
    pageMaxBytes: 256 * 1024,
    reads: new ReadSlots(4),
    logger: node.log.logger,
  });
}

describe('RequestHandler: requests against the parts, without a socket server', () => {
  it('answers by ref: forbidden before a join, ack after it, bad_request for garbage', async () => {
    const node = memoryNode();
    const requests = handlerOn(node);
    const { session: alice, connection } = session('alice');
    node.hub.addSession(alice);
    await requests.handle(alice, JSON.stringify({ type: 'send', room: 'r', text: 'x', ref: '1' }));
    await requests.handle(alice, JSON.stringify({ type: 'join', room: 'r', ref: '2' }));
    await requests.handle(alice, JSON.stringify({ type: 'send', room: 'r', text: 'hi', ref: '3' }));
    await requests.handle(alice, 'not json');
    await requests.handle(alice, JSON.stringify({ type: 'history', room: 'dm:bob:carol', ref: '4' }));
    const byRef = (ref: string) => connection.frames().find((f) => f.ref === ref);
    expect(byRef('1')).to.include({ type: 'error', code: 'forbidden' });
    expect(byRef('2')).to.deep.include({ type: 'joined', room: 'r', members: ['alice'] });
    expect(byRef('3')).to.include({ type: 'ack', room: 'r' });
    expect(connection.frames().find((f) => f.type === 'error' && f.ref === undefined)).to.include({
      code: 'bad_request',
    });
    expect(byRef('4')).to.include({ type: 'error', code: 'forbidden' });
    await waitFor(() => connection.ofType('message').length === 1, { what: 'the message' });
    expect(connection.ofType('message')[0]).to.include({ from: 'alice', text: 'hi' });
  });

  it('refuses over the rate with retry_after_ms, summarises refusals, and blocks at the limit', async () => {
    const node = memoryNode();
    const requests = handlerOn(node);
    const { session: alice, connection } = session('alice');
    node.hub.addSession(alice);
    await requests.handle(alice, JSON.stringify({ type: 'join', room: 'r' }));
    for (let i = 0; i < 5; i += 1)
      await requests.handle(alice, JSON.stringify({ type: 'send', room: 'r', text: `m${i}`, ref: `s${i}` }));
    const refused = connection.ofType('error').filter((e) => e.code === 'rate_limited');
    expect(refused).to.have.length(3);
    expect(refused[0]?.retry_after_ms).to.be.a('number').greaterThan(0);
    expect(node.audits('blocked')[0]).to.include({ username: 'alice', reason: 'rate_limit', violations: 3 });
    expect(connection.closes).to.deep.equal([{ code: 1008, reason: 'blocked' }]);
    node.audit.flush();
    expect(node.audits('rate_limited')[0]).to.include({ username: 'alice', rejected: 3 });
  });

  it('sends a DM into the sorted dm room and refuses one to yourself', async () => {
    const node = memoryNode();
    const requests = handlerOn(node);
    const { session: bob, connection } = session('bob');
    node.hub.addSession(bob);
    await requests.handle(bob, JSON.stringify({ type: 'dm', to: 'Alice', text: 'psst', ref: '1' }));
    await requests.handle(bob, JSON.stringify({ type: 'dm', to: 'bob', text: 'me', ref: '2' }));
    expect(connection.frames().find((f) => f.ref === '1')).to.include({ type: 'ack', room: 'dm:alice:bob' });
    expect(connection.frames().find((f) => f.ref === '2')).to.include({ type: 'error', code: 'bad_request' });
    const history = (await node.state.broker.history('dm:alice:bob', { limit: 10, maxBytes: 65536 }))
      .messages;
    expect(history.map((m) => m.text)).to.deep.equal(['psst']);
  });

  it('answers a join that a leave overtook, instead of leaving it unanswered (found by fuzzing)', async () => {
    const node = memoryNode();
    const requests = handlerOn(node);
    const { session: ann, connection } = session('ann');
    node.hub.addSession(ann);
    const join = requests.handle(ann, JSON.stringify({ type: 'join', room: 'r', since: '0-0', ref: 'j' }));
    const leave = requests.handle(ann, JSON.stringify({ type: 'leave', room: 'r', ref: 'l' }));
    await Promise.all([join, leave]);
    expect(connection.frames().find((f) => f.ref === 'l')).to.include({ type: 'left' });
    expect(connection.frames().find((f) => f.ref === 'j')).to.include({ type: 'error', code: 'forbidden' });
    expect(ann.inRoom('r')).to.equal(false);
  });
});
