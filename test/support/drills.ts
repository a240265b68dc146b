import { expect } from 'chai';
import { compareMessageIds, type ChatClient, type MessageFrame, type WelcomeMessage } from '@securechat/sdk';
import { nodesOf, type TlsEdge } from './tls-edge';
import { waitFor, withTimeout } from './wait';

export interface KillDrill {
  /** The deployment's front door, for the readers' SDK clients. */
  edge: TlsEdge;
  /** A connected writer (its node is never the victim) and a reader's token. */
  writer: ChatClient;
  writerNode: string;
  readerToken: string;
  /** Every chat node's name (where a reconnect may land), and those never to be killed. */
  nodes: readonly string[];
  spare?: readonly string[];
  /** Messages before the kill (within the deployment's rate limit with `during` and 1). */
  before: number;
  during: number;
  reconnectTimeoutMs: number;
  lastMessageTimeoutMs: number;
  /** Kills the victim and resolves once it is down. */
  kill(victim: string): Promise<void>;
}

interface Reader {
  client: ChatClient;
  node: string;
  got: MessageFrame[];
  disconnects: number;
}

/**
 * A chat node dies under its SDK clients: readers are placed until a node other than the
 * writer's (and the spared ones) holds two of them; that node is killed; messages are
 * published while its readers are away, kept away by a token gate (a refreshAheadMs longer
 * than the token's life makes the SDK ask before every attempt); then the gate opens.
 * Every reader must end with every message once and in order, on a live node, and the
 * readers of the other nodes must never have been disconnected. Resolves with the victim.
 */
export async function killDrill(d: KillDrill): Promise<string> {
  const room = 'failover';
  await d.writer.join(room);
  let gate: Promise<void> = Promise.resolve();
  let openGate: () => void = () => undefined;
  const readers: Reader[] = [];
  const victimOf = () =>
    d.nodes.find(
      (name) =>
        name !== d.writerNode &&
        !(d.spare ?? []).includes(name) &&
        readers.filter((r) => r.node === name).length >= 2,
    );
  while (victimOf() === undefined) {
    if (readers.length >= 12) throw new Error(`readers on ${readers.map((r) => r.node).join(', ')}`);
    // ?token= on purpose: the reconnects meet the dead node through nginx with the token in the URL.
    const client = d.edge.sdk(
      async () => {
        await gate;
        return d.readerToken;
      },
      'query',
      { refreshAheadMs: 24 * 3600_000 },
    );
    const reader: Reader = { client, node: (await client.connect()).node, got: [], disconnects: 0 };
    client.on('message', (m) => reader.got.push(m));
    client.on('disconnect', () => (reader.disconnects += 1));
    await client.join(room);
    readers.push(reader);
  }
  const victim = victimOf() as string;
  const cut = readers.filter((r) => r.node === victim);
  const spared = readers.filter((r) => r.node !== victim);
  const reconnected = cut.map((r) =>
    withTimeout(
      new Promise<WelcomeMessage>((resolve) => r.client.once('reconnected', (e) => resolve(e.welcome))),
      d.reconnectTimeoutMs,
      `a reader of ${victim} to reconnect`,
    ),
  );
  const texts: string[] = [];
  const publish = async (text: string) => {
    await d.writer.send(room, text);
    texts.push(text);
  };
  for (let i = 0; i < d.before; i++) await publish(`before-${i}`);
  await waitFor(() => readers.every((r) => r.got.length === d.before), { what: 'the first messages' });

  gate = new Promise<void>((resolve) => {
    openGate = () => resolve();
  });
  await d.kill(victim);
  await waitFor(() => cut.every((r) => r.client.state === 'reconnecting'), {
    timeoutMs: 10_000,
    what: `the readers of ${victim} to notice`,
  });
  // Published while the readers of the dead node are away.
  for (let i = 0; i < d.during; i++) await publish(`during-${i}`);
  for (const r of cut) expect(r.got.map((m) => m.text)).to.deep.equal(texts.slice(0, d.before));
  openGate();

  for (const welcome of await Promise.all(reconnected)) {
    expect(welcome.node).to.not.equal(victim);
    expect(d.nodes).to.include(welcome.node);
  }
  await publish('after');
  await waitFor(() => readers.every((r) => r.got.some((m) => m.text === 'after')), {
    what: 'every reader to get the last message',
    timeoutMs: d.lastMessageTimeoutMs,
  });
  for (const r of readers) {
    expect(
      r.got.map((m) => m.text),
      `reader first on ${r.node}`,
    ).to.deep.equal(texts);
    const ids = r.got.map((m) => m.id);
    expect([...ids].sort(compareMessageIds)).to.deep.equal(ids);
  }
  for (const r of spared) expect(r.disconnects, `reader on ${r.node}`).to.equal(0);
  await Promise.all(readers.map((r) => r.client.close()));
  return victim;
}

/**
 * A room fanned out across every chat node of a deployment: six members spread until each
 * node holds one, a sender on each node, four rounds and a last message. Every member must
 * get every acked message once, in id order (acked ids grow in send order).
 */
export async function fanOutDrill(edge: TlsEdge, nodes: readonly string[]): Promise<void> {
  const tokens = [await edge.newUser('fan_a'), await edge.newUser('fan_b'), await edge.newUser('fan_c')];
  const members = await edge.spread(
    tokens,
    (open) => open.length >= 6 && nodesOf(open).size === nodes.length,
  );
  expect([...nodesOf(members)].sort()).to.deep.equal([...nodes].sort());
  const room = 'fanout';
  for (const m of members) await m.client.join(room);
  const senders = nodes.map((name) => {
    const sender = members.find((m) => m.welcome.node === name);
    if (sender === undefined) throw new Error(`no member on ${name}`);
    return sender;
  });
  const sent: { id: string; text: string }[] = [];
  for (let round = 0; round < 4; round++) {
    for (const sender of senders) {
      const text = `${String(sender.welcome.node)}#${round}`;
      const ack = await sender.client.request({ type: 'send', room, text });
      expect(ack.type, JSON.stringify(ack)).to.equal('ack');
      sent.push({ id: String(ack.id), text });
    }
  }
  // Once the last message is in, anything due before it has arrived (a room is delivered
  // in id order): a duplicate or a gap would show now.
  const last = await (senders[0] as (typeof senders)[number]).client.request({
    type: 'send',
    room,
    text: 'last',
  });
  sent.push({ id: String(last.id), text: 'last' });
  const ids = sent.map((s) => s.id);
  expect([...ids].sort(compareMessageIds), 'acked ids are in send order').to.deep.equal(ids);
  for (const m of members) {
    await m.client.next((f) => f.type === 'message' && f.room === room && f.id === last.id, 10_000);
    const got = m.client.messages(room).map((f) => ({ id: String(f.id), text: String(f.text) }));
    expect(got, `member on ${String(m.welcome.node)}`).to.deep.equal(sent);
  }
  for (const m of members) await m.client.close();
}
