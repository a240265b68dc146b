/**
 * `npm run cluster` with CLUSTER_REDIS_MODE=cluster, as an operator runs it: a Redis
 * Cluster of 3 masters and 3 replicas under the nodes, one `redis:` line per server, a
 * message through nginx, and chatctl given one of those URLs acting on the whole cluster.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { freePort, portIsFree, type ManagedProcess } from '@securechat/cluster';
import { httpsSend } from '../support/https';
import { ENTRIES, ROOT, runScript } from '../support/processes';
import { waitFor } from '../support/wait';
import { TestClient } from '../support/ws-client';

const HOST = '127.0.0.1';
const PASSWORD = 'correct horse battery';

function chatctl(url: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [join(ROOT, 'services/chat/dist/chatctl.js'), ...args], {
    env: { PATH: process.env.PATH ?? '', REDIS_URL: url },
    encoding: 'utf8',
  });
}

describe('npm run cluster with CLUSTER_REDIS_MODE=cluster @redis @nginx', function () {
  this.timeout(180_000);
  let dir: string;
  let child: ManagedProcess | undefined;
  const sockets: TestClient[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'securechat-cluster-mode-'));
    chmodSync(dir, 0o755);
  });
  after(async () => {
    for (const s of sockets) s.ws.terminate();
    if (child?.running === true) await child.stop('SIGKILL', 1000);
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the nodes on a Redis Cluster: redis lines per server, messages through nginx, chatctl by any server URL', async () => {
    const httpsPort = await freePort();
    child = runScript(
      ENTRIES.cluster,
      {
        PATH: process.env.PATH ?? '',
        CLUSTER_HTTPS_PORT: String(httpsPort),
        CLUSTER_DIR: dir,
        CLUSTER_REDIS_MODE: 'cluster',
        CLUSTER_AUTH_NODES: '1',
        CLUSTER_CHAT_NODES: '2',
      },
      { name: 'npm run cluster' },
    );
    const proc = child;
    await proc.waitForLine((l) => l.startsWith('cluster ready:'), 120_000);
    const url = `https://${HOST}:${httpsPort}`;
    await proc.waitForLine((l) => l.startsWith('metrics: chat-2 '), 10_000);
    const lines = proc.lines('stdout');
    const ready = lines.indexOf(`cluster ready: ${url}`);
    expect(ready).to.be.above(-1);
    // One operator URL per server, right after the ready line.
    const redisLines = lines
      .slice(ready + 1, ready + 7)
      .map((l) => /^redis: (redis:\/\/securechat-ops:[A-Za-z0-9_-]{32,}@127\.0\.0\.1:(\d+))$/.exec(l));
    for (const m of redisLines) expect(m, lines.slice(ready, ready + 8).join('\n')).to.not.equal(null);
    const urls = redisLines.map((m) => m?.[1] as string);
    const ports = redisLines.map((m) => Number(m?.[2]));
    expect(new Set(ports).size).to.equal(6);

    // Register and log in through nginx; two sockets on the chat nodes.
    const ca = readFileSync(join(dir, 'tls', 'cert.pem'));
    const tokenOf = async (username: string) => {
      const registered = await httpsSend(url, ca, 'POST', '/auth/register', {
        body: { username, password: PASSWORD },
      });
      expect(registered.status, registered.text).to.equal(201);
      const login = await httpsSend(url, ca, 'POST', '/auth/login', {
        body: { username, password: PASSWORD },
      });
      expect(login.status, login.text).to.equal(200);
      return (JSON.parse(login.text) as { access_token: string }).access_token;
    };
    const open = async (token: string) => {
      const ws = new WebSocket(`${url.replace(/^https:/, 'wss:')}/ws`, ['chat.v1'], {
        ca,
        headers: { Authorization: `Bearer ${token}` },
        origin: url,
        perMessageDeflate: false,
      });
      const client = new TestClient(ws);
      sockets.push(client);
      await client.next((f) => f.type === 'welcome', 10_000);
      return client;
    };
    const alice = await open(await tokenOf('alice'));
    const bob = await open(await tokenOf('bob'));
    await alice.join('lobby');
    await bob.join('lobby');
    const ack = await alice.request({ type: 'send', room: 'lobby', text: 'on a cluster' });
    expect(ack.type).to.equal('ack');
    const got = await bob.next((f) => f.type === 'message' && f.id === ack.id);
    expect(got.text).to.equal('on a cluster');

    // chatctl with the URL of any one server acts on the whole cluster (redis-cli -c).
    const blocked = chatctl(urls[3] as string, 'block', 'bob', '1m', 'testing');
    expect(blocked.status, blocked.stderr).to.equal(0);
    expect(blocked.stdout).to.include('blocked bob');
    expect(await bob.waitClose(2000)).to.deep.equal({ code: 1008, reason: 'blocked' });
    const status = chatctl(urls[5] as string, 'status', 'bob');
    expect(status.stdout).to.include('bob: blocked (testing');
    expect(chatctl(urls[0] as string, 'unblock', 'bob').stdout).to.include('unblocked bob');

    proc.signal('SIGINT');
    expect(await proc.exitWithin(60_000)).to.deep.equal({ code: 0, signal: null });
    await waitFor(
      async () => {
        for (const port of ports) if (!(await portIsFree(port, HOST))) return false;
        return true;
      },
      { what: 'every Redis Cluster port free', timeoutMs: 10_000 },
    );
  });
});
