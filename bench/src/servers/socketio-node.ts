import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { fail, parseNodeSettings, ROOM_NAME } from './node-settings';

/**
 * Reference system (b): one node of a Socket.IO 4 cluster, wired to Redis with
 * @socket.io/redis-adapter and ioredis exactly as the adapter's README shows. `join`
 * puts the socket in a room and acknowledges; `send` from a member broadcasts
 * `{room, text}` to the whole room (the sender included) and acknowledges.
 */
async function main(): Promise<void> {
  const settings = parseNodeSettings(process.env);
  const pubClient = new Redis(settings.redisUrl);
  const subClient = pubClient.duplicate();
  pubClient.on('error', (err) => process.stderr.write(`redis pub: ${err.message}\n`));
  subClient.on('error', (err) => process.stderr.write(`redis sub: ${err.message}\n`));
  let ready = false;
  const http = createServer((req, res) => {
    const status = req.url === '/readyz' ? (ready ? 200 : 503) : req.url === '/healthz' ? 200 : 404;
    res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
  });
  const io = new Server(http, {
    transports: ['websocket'],
    perMessageDeflate: false,
    serveClient: false,
    adapter: createAdapter(pubClient, subClient),
  });
  io.on('connection', (socket) => {
    socket.on('join', (room: unknown, ack: unknown) => {
      const ok = typeof room === 'string' && ROOM_NAME.test(room);
      if (ok) void socket.join(room);
      if (typeof ack === 'function') ack(ok);
    });
    socket.on('send', (msg: unknown, ack: unknown) => {
      const { room, text } = (typeof msg === 'object' && msg !== null ? msg : {}) as Record<string, unknown>;
      const ok = typeof room === 'string' && typeof text === 'string' && socket.rooms.has(room);
      if (ok) io.to(room).emit('message', { room, text });
      if (typeof ack === 'function') ack(ok);
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(settings.port, settings.host, resolve);
  });
  // The adapter subscribes as it is created; a PING queued behind that PSUBSCRIBE on the
  // same connection answers only once the subscription is in place.
  await subClient.ping();
  await pubClient.ping();
  ready = true;
  process.on('SIGTERM', () => {
    void io.close();
    pubClient.disconnect();
    subClient.disconnect();
    process.exit(0);
  });
}

main().catch(fail);
