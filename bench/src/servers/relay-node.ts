import { createServer } from 'node:http';
import { Redis } from 'ioredis';
import { WebSocket, WebSocketServer } from 'ws';
import { fail, parseNodeSettings, ROOM_NAME } from './node-settings';

const CHANNEL_PREFIX = 'relay:room:';

interface Room {
  readonly members: Set<WebSocket>;
  readonly subscribed: Promise<unknown>;
}

/**
 * Reference system (c), the ceiling: plain `ws` + ioredis, no auth, no history, no
 * acknowledgement. `{"join":R}` subscribes the node to R's channel (once per node) and
 * answers `{"joined":R}`; `{"room":R,"text":T}` from a member is PUBLISHed unchanged, and
 * every node with members in R writes those same bytes to each of them.
 */
async function main(): Promise<void> {
  const settings = parseNodeSettings(process.env);
  const pub = new Redis(settings.redisUrl);
  const sub = new Redis(settings.redisUrl);
  pub.on('error', (err) => process.stderr.write(`redis pub: ${err.message}\n`));
  sub.on('error', (err) => process.stderr.write(`redis sub: ${err.message}\n`));
  const rooms = new Map<string, Room>();
  const memberships = new Map<WebSocket, Set<string>>();

  sub.on('messageBuffer', (channel: Buffer, payload: Buffer) => {
    const room = rooms.get(channel.toString().slice(CHANNEL_PREFIX.length));
    if (room === undefined) return;
    for (const ws of room.members) {
      if (ws.readyState === WebSocket.OPEN) ws.send(payload, { binary: false });
    }
  });

  const join = async (ws: WebSocket, name: string) => {
    let room = rooms.get(name);
    if (room === undefined) {
      room = { members: new Set(), subscribed: sub.subscribe(CHANNEL_PREFIX + name) };
      rooms.set(name, room);
    }
    room.members.add(ws);
    memberships.get(ws)?.add(name);
    await room.subscribed;
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ joined: name }));
  };

  const leaveAll = (ws: WebSocket) => {
    for (const name of memberships.get(ws) ?? []) {
      const room = rooms.get(name);
      if (room === undefined) continue;
      room.members.delete(ws);
      if (room.members.size === 0) {
        rooms.delete(name);
        void sub.unsubscribe(CHANNEL_PREFIX + name);
      }
    }
    memberships.delete(ws);
  };

  let ready = false;
  const http = createServer((req, res) => {
    const status = req.url === '/readyz' ? (ready ? 200 : 503) : req.url === '/healthz' ? 200 : 404;
    res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
  });
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false, maxPayload: 65536 });
  wss.on('connection', (ws) => {
    memberships.set(ws, new Set());
    ws.on('error', () => ws.terminate());
    ws.on('close', () => leaveAll(ws));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let msg: unknown;
      try {
        msg = JSON.parse(String(data));
      } catch {
        return;
      }
      if (typeof msg !== 'object' || msg === null) return;
      const { join: joinRoom, room } = msg as Record<string, unknown>;
      if (typeof joinRoom === 'string' && ROOM_NAME.test(joinRoom)) {
        join(ws, joinRoom).catch(() => ws.close(1011));
      } else if (typeof room === 'string' && memberships.get(ws)?.has(room) === true) {
        pub.publish(CHANNEL_PREFIX + room, data as Buffer).catch(() => ws.close(1011));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(settings.port, settings.host, resolve);
  });
  await Promise.all([pub.ping(), sub.ping()]);
  ready = true;
  process.on('SIGTERM', () => {
    for (const ws of wss.clients) ws.terminate();
    pub.disconnect();
    sub.disconnect();
    process.exit(0);
  });
}

main().catch(fail);
