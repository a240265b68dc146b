import { expect } from 'chai';
import { Redis } from 'ioredis';
import { connect, refusal, type TestClient } from '../support/ws-client';
import { ChatCluster, type InProcessNode } from '../support/chat-cluster';
import { ENTRIES, runToExit } from '../support/processes';
import { RedisServer, uniquePrefix } from '../support/redis-server';
import { waitFor } from '../support/wait';

/** Runs the compiled CLI as an operator would, with exactly the environment given. */
function chatctl(args: string[], env: Record<string, string>) {
  return runToExit(ENTRIES.chatctl, { PATH: process.env.PATH ?? '', ...env }, { args, name: 'chatctl' });
}

describe('chatctl against live chat nodes @redis', () => {
  let redis: RedisServer;
  let cluster: ChatCluster;
  let a: InProcessNode;
  let b: InProcessNode;
  let ctlEnv: Record<string, string>;
  const ctl = (...args: string[]) => chatctl(args, ctlEnv);

  before(async () => {
    redis = await RedisServer.start();
    // Keyspace events stay off, so what reaches open sessions is chatctl's own PUBLISH on
    // the control channel (the docs promise it is live without them).
    cluster = new ChatCluster(redis, {
      CONFIGURE_KEYSPACE_EVENTS: 'false',
      RATE_LIMIT_MAX: '3',
      RATE_LIMIT_WINDOW_MS: '60000',
      BLOCK_AFTER_VIOLATIONS: '100',
    });
    a = await cluster.startNode('ctl-a');
    b = await cluster.startNode('ctl-b');
    expect(await cluster.admin.config('GET', 'notify-keyspace-events')).to.deep.equal([
      'notify-keyspace-events',
      '',
    ]);
    // ACCESS_TOKEN_TTL_S other than the default, to see that it sets the revocation TTLs.
    ctlEnv = { REDIS_URL: redis.url, REDIS_PREFIX: cluster.prefix, ACCESS_TOKEN_TTL_S: '600' };
  });
  after(async () => {
    await cluster.stop();
    await redis.destroy();
  });

  const closesOf = (clients: TestClient[]) => Promise.all(clients.map((c) => c.waitClose(2000)));

  it("block closes the user's live sessions on every node 1008 blocked and sets the key with its TTL", async () => {
    const token = cluster.token('alice');
    const sessions = [await connect(a.url, { token }), await connect(b.url, { token })];
    const bystander = await connect(a.url, { token: cluster.token('bystander') });
    const run = await ctl('block', 'Alice', '1h');
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.equal('blocked alice for 3600 s\n');
    for (const close of await closesOf(sessions))
      expect(close).to.deep.equal({ code: 1008, reason: 'blocked' });
    expect(await cluster.admin.get(cluster.keys.blocked('alice'))).to.equal('operator');
    expect(await cluster.admin.ttl(cluster.keys.blocked('alice'))).to.be.within(3590, 3600);
    expect((await refusal(b.url, { token: cluster.token('alice') })).status).to.equal(403);
    expect((await bystander.request({ type: 'ping' })).type).to.equal('pong');
    await bystander.close();
  });

  it('block takes a duration in s, m or d and a free-text reason; status shows it', async () => {
    let run = await ctl('block', 'bob', '90s', 'spam', 'links');
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.equal('blocked bob for 90 s\n');
    expect(await cluster.admin.get(cluster.keys.blocked('bob'))).to.equal('spam links');
    expect(await cluster.admin.ttl(cluster.keys.blocked('bob'))).to.be.within(85, 90);
    run = await ctl('block', 'carl', '15m');
    expect(run.stdout).to.equal('blocked carl for 900 s\n');
    run = await ctl('block', 'dora', '2d');
    expect(run.stdout).to.equal('blocked dora for 172800 s\n');
    expect(await cluster.admin.ttl(cluster.keys.blocked('dora'))).to.be.within(172790, 172800);
    run = await ctl('block', 'ezra', '45');
    expect(run.stdout).to.equal('blocked ezra for 45 s\n');

    run = await ctl('status', 'bob');
    expect(run.code, run.stderr).to.equal(0);
    const match =
      /^bob: blocked \(spam links, (\d+) s left\); 0 live connection\(s\); 0 message\(s\) in the rate window\n$/.exec(
        run.stdout,
      );
    expect(match, run.stdout).to.not.equal(null);
    expect(Number(match?.[1])).to.be.within(80, 90);
  });

  it('status of a live user counts connections on all nodes and the rate window', async () => {
    const token = cluster.token('gina');
    const sessions = [await connect(a.url, { token }), await connect(b.url, { token })];
    await (sessions[0] as TestClient).join('gina-room');
    for (const text of ['one', 'two'])
      expect(
        (await (sessions[0] as TestClient).request({ type: 'send', room: 'gina-room', text })).type,
      ).to.equal('ack');
    const run = await ctl('status', 'GINA');
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.equal('gina: not blocked; 2 live connection(s); 2 message(s) in the rate window\n');
    await Promise.all(sessions.map((s) => s.close()));
  });

  it('unblock lets the user in again, and says so when there was no block', async () => {
    expect((await ctl('block', 'ivy')).stdout).to.equal('blocked ivy for 3600 s\n');
    expect((await refusal(a.url, { token: cluster.token('ivy') })).status).to.equal(403);
    const run = await ctl('unblock', 'ivy');
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.equal('unblocked ivy\n');
    expect(await cluster.admin.exists(cluster.keys.blocked('ivy'))).to.equal(0);
    const back = await connect(b.url, { token: cluster.token('ivy') });
    expect((await back.request({ type: 'ping' })).type).to.equal('pong');
    // announced on the control channel: every node saw it, with keyspace events off
    for (const node of [a, b]) {
      await waitFor(() => node.logs.lines().some((l) => l.event === 'unblock_seen' && l.username === 'ivy'), {
        what: `unblock_seen on ${node.name}`,
        timeoutMs: 2000,
      });
    }
    const again = await ctl('unblock', 'ivy');
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stdout).to.equal('ivy was not blocked\n');
    await back.close();
  });

  it("revoke <jti> closes the sessions of that token 1008 token_revoked, not the user's others", async () => {
    const issued = cluster.issue('jane');
    const sessions = [
      await connect(a.url, { token: issued.token }),
      await connect(b.url, { token: issued.token }),
    ];
    const other = await connect(b.url, { token: cluster.token('jane') });
    const run = await ctl('revoke', issued.jti);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.equal(`revoked ${issued.jti}\n`);
    for (const close of await closesOf(sessions))
      expect(close).to.deep.equal({ code: 1008, reason: 'token_revoked' });
    expect((await other.request({ type: 'ping' })).type).to.equal('pong');
    expect(await cluster.admin.get(cluster.keys.revoked(issued.jti))).to.equal('operator');
    // ACCESS_TOKEN_TTL_S (600) + 5
    expect(await cluster.admin.ttl(cluster.keys.revoked(issued.jti))).to.be.within(595, 605);
    expect((await refusal(a.url, { token: issued.token })).status).to.equal(401);
    await other.close();
  });

  it('revoke-user closes every session of the user 1008 token_revoked; a later token works', async () => {
    const sessions = [
      await connect(a.url, { token: cluster.token('kate') }),
      await connect(b.url, { token: cluster.token('kate') }),
    ];
    const older = cluster.token('kate');
    const bystander = await connect(a.url, { token: cluster.token('kenny') });
    const before = Date.now();
    const run = await ctl('revoke-user', 'Kate');
    const after = Date.now();
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.equal('revoked every token of kate issued until now\n');
    for (const close of await closesOf(sessions))
      expect(close).to.deep.equal({ code: 1008, reason: 'token_revoked' });
    expect((await bystander.request({ type: 'ping' })).type).to.equal('pong');
    const mark = Number(await cluster.admin.get(cluster.keys.revokedBefore('kate')));
    expect(mark).to.be.within(before, after);
    expect(await cluster.admin.ttl(cluster.keys.revokedBefore('kate'))).to.be.within(595, 605);
    expect((await refusal(b.url, { token: older })).status).to.equal(401);
    // iat has whole seconds: a token of a later second than the mark passes
    await waitFor(() => Math.floor(Date.now() / 1000) > Math.floor(mark / 1000), {
      what: 'the next second',
      timeoutMs: 2000,
    });
    const fresh = await connect(b.url, { token: cluster.token('kate') });
    await Promise.all([fresh.close(), bystander.close()]);
  });

  it('online lists who is present in a room on any node, one per line', async () => {
    const leo = await connect(a.url, { token: cluster.token('leo') });
    const mia = await connect(b.url, { token: cluster.token('mia') });
    await mia.join('ctl-lobby');
    await leo.join('ctl-lobby');
    let run = await ctl('online', 'ctl-lobby');
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.equal('leo\nmia\n');
    expect((await leo.request({ type: 'leave', room: 'ctl-lobby' })).type).to.equal('left');
    expect((await ctl('online', 'ctl-lobby')).stdout).to.equal('mia\n');
    await leo.join('dm:leo:mia');
    expect((await ctl('online', 'dm:leo:mia')).stdout).to.equal('leo\n');
    run = await ctl('online', 'empty-room');
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.equal('nobody in empty-room\n');
    await Promise.all([leo.close(), mia.close()]);
  });

  it("rate shows the accepted messages in the window, the oldest one's age and the violations", async () => {
    const hugo = await connect(a.url, { token: cluster.token('hugo') });
    await hugo.join('hugo-room');
    const first = Date.now();
    for (let i = 0; i < 3; i++)
      expect((await hugo.request({ type: 'send', room: 'hugo-room', text: `m${i}` })).type).to.equal('ack');
    expect(await hugo.request({ type: 'send', room: 'hugo-room', text: 'over' })).to.include({
      type: 'error',
      code: 'rate_limited',
    });
    const run = await ctl('rate', 'hugo');
    const elapsed = Date.now() - first;
    expect(run.code, run.stderr).to.equal(0);
    const match =
      /^hugo: 3 accepted message\(s\) in the window, oldest (\d+) ms ago; 1 violation\(s\)\n$/.exec(
        run.stdout,
      );
    expect(match, run.stdout).to.not.equal(null);
    expect(Number(match?.[1])).to.be.within(0, elapsed);
    const none = await ctl('rate', 'nobody');
    expect(none.stdout).to.equal('nobody: 0 accepted message(s) in the window; 0 violation(s)\n');
    await hugo.close();
  });

  it('conversations lists the rooms and DMs of a user newest first, with unread counts, text escaped', async () => {
    const owner = await connect(a.url, { token: cluster.token('owner') });
    const friend = await connect(b.url, { token: cluster.token('friend') });
    await owner.join('den');
    await friend.join('den');
    const hi = await friend.request({ type: 'send', room: 'den', text: 'hi' });
    // Activity is a message id's millisecond: two in one millisecond tie (and go by name),
    // so the DM that must come first is sent in a later one.
    const hiMs = Number(String(hi.id).split('-')[0]);
    await waitFor(() => Date.now() > hiMs, { what: 'a millisecond after the room message' });
    await friend.request({ type: 'dm', to: 'owner', text: 'line\nbreak \u001b[31m' });
    const run = await ctl('conversations', 'Owner');
    expect(run.code, run.stderr).to.equal(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).to.have.length(2);
    expect(lines[0]).to.match(/^dm:friend:owner {2}1 unread {2}\S+Z friend: "line\\nbreak \\u001b\[31m"$/);
    expect(lines[1]).to.match(/^den {2}1 unread {2}\S+Z friend: "hi"$/);
    expect((await ctl('conversations', 'nobody-here')).stdout).to.equal('nobody-here has no rooms\n');
    await Promise.all([owner.close(), friend.close()]);
  });

  it('bad arguments exit non-zero with the usage and change nothing', async function () {
    // About 25 chatctl processes, one after the other: about 15 s on an idle 2-core
    // machine, more while other suites run beside it.
    this.timeout(60_000);
    // A prefix of its own: "nothing changed" is "no key under it, nothing on its control channel".
    const scratch = uniquePrefix('ctlbad');
    const env = { ...ctlEnv, REDIS_PREFIX: scratch };
    const watcher = new Redis(redis.url);
    const announced: string[] = [];
    watcher.on('message', (_channel: string, message: string) => announced.push(message));
    await watcher.subscribe(`${scratch}control`);
    const keysUnder = async () => (await cluster.admin.keys(`${scratch}*`)).sort();
    try {
      for (const args of [
        [],
        ['frobnicate', 'alice'],
        ['block'],
        ['block', 'a*b'],
        ['block', 'al'],
        ['block', 'x'.repeat(33)],
        ['block', 'hank', '0s'],
        ['block', 'hank', '1x'],
        ['block', 'hank', '-5m'],
        ['block', 'hank', '366d'],
        ['unblock'],
        ['unblock', 'bad user'],
        ['status', 'bad\nuser'],
        ['revoke'],
        ['revoke', 'short'],
        ['revoke', 'not a jti at all'],
        ['revoke-user', 'h*'],
        ['online'],
        ['online', 'Lobby'],
        ['online', '*'],
        ['online', 'dm:*:*'],
        ['rate', '../etc'],
        ['conversations'],
        ['conversations', 'a*b'],
      ]) {
        const run = await chatctl(args, env);
        const what = `chatctl ${JSON.stringify(args)}`;
        expect(run.code, what).to.equal(1);
        expect(run.stderr, what).to.include('usage: npm run chatctl -- <command>');
        expect(run.stdout, what).to.equal('');
      }
      expect(await keysUnder()).to.deep.equal([]);
      // Without REDIS_URL it names the variable and does nothing either.
      const noRedis = await chatctl(['block', 'hank'], { REDIS_PREFIX: scratch });
      expect(noRedis.code).to.equal(1);
      expect(noRedis.stderr).to.include('REDIS_URL');
      expect(await keysUnder()).to.deep.equal([]);
      // A good command under the same prefix is seen: the checks above can fail. Its
      // announcement comes after any the bad ones could have made (one connection, in order).
      const good = await chatctl(['block', 'hank', '1h'], env);
      expect(good.code, good.stderr).to.equal(0);
      await waitFor(() => announced.length > 0, { what: 'the good command announced', timeoutMs: 2000 });
      expect(announced).to.deep.equal(['blocked hank']);
      expect(await keysUnder()).to.deep.equal([`${scratch}blocked:hank`]);
    } finally {
      watcher.disconnect();
    }
  });
});
