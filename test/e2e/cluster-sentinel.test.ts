import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, redisPing, type ManagedProcess } from '@securechat/cluster';
import { httpsSend } from '../support/https';
import { ENTRIES, ROOT, runScript } from '../support/processes';
import { waitFor } from '../support/wait';

/** chatctl with the nodes' Sentinel variables and the operator's user. */
function chatctl(env: Record<string, string>, ...args: string[]): { status: number | null; out: string } {
  const run = spawnSync(process.execPath, [join(ROOT, 'services/chat/dist/chatctl.js'), ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
  });
  return { status: run.status, out: `${run.stdout}${run.stderr}` };
}

/**
 * `CLUSTER_REDIS_MODE=sentinel npm run cluster`: a master, a replica and three sentinels
 * under the nodes; one `redis:` line per data server; chatctl and the nodes follow a
 * failover; nothing is left running after SIGTERM.
 */
describe('npm run cluster with CLUSTER_REDIS_MODE=sentinel @redis @nginx @sentinel', function () {
  this.timeout(180_000);
  let stateDir: string;
  let child: ManagedProcess | undefined;

  before(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'securechat-cluster-sentinel-'));
    chmodSync(stateDir, 0o755);
  });
  after(async () => {
    await child?.stop('SIGTERM', 30_000);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('runs on a Sentinel group, prints each data server, and follows a failover', async () => {
    const httpsPort = await freePort();
    child = runScript(
      ENTRIES.cluster,
      {
        PATH: process.env.PATH ?? '',
        CLUSTER_HTTPS_PORT: String(httpsPort),
        CLUSTER_DIR: stateDir,
        CLUSTER_REDIS_MODE: 'sentinel',
        CLUSTER_AUTH_NODES: '1',
        CLUSTER_CHAT_NODES: '2',
      },
      { name: 'npm run cluster' },
    );
    const proc = child;
    await proc.waitForLine((l) => l.startsWith('cluster ready:'), 120_000);
    await proc.waitForLine((l) => l.startsWith('metrics: chat-2 '), 10_000);
    const lines = proc.lines('stdout');
    const ready = lines.findIndex((l) => l.startsWith('cluster ready:'));
    // one `redis:` line per data server, the master first, right after the ready line
    const redisUrls = lines
      .slice(ready + 1, ready + 3)
      .map((l) => /^redis: (redis:\/\/securechat-ops:\S+)$/.exec(l)?.[1]);
    expect(
      redisUrls.every((u) => u !== undefined),
      lines.slice(ready, ready + 4).join('\n'),
    ).to.equal(true);
    expect(lines[ready + 3]).to.match(/^metrics: auth-1 /);
    const roles: string[] = [];
    for (const url of redisUrls as string[]) {
      const operator = new Redis(url, { maxRetriesPerRequest: 1 });
      try {
        roles.push(/^role:(\w+)/m.exec(await operator.info('replication'))?.[1] ?? '');
      } finally {
        operator.disconnect();
      }
    }
    expect(roles).to.deep.equal(['master', 'slave']);

    // chatctl through the sentinels, as the operator
    const sentinels = /REDIS_SENTINELS=(\S+)/.exec(
      lines.find((l) => l.includes('REDIS_SENTINELS=')) ?? '',
    )?.[1];
    expect(sentinels).to.be.a('string');
    const env = {
      REDIS_SENTINELS: sentinels as string,
      REDIS_SENTINEL_NAME: 'securechat',
      REDIS_USERNAME: 'securechat-ops',
      REDIS_PASSWORD_FILE: join(stateDir, 'redis-acl', 'operator.password'),
    };
    const blocked = chatctl(env, 'block', 'mallory', '10m', 'test');
    expect(blocked.status, blocked.out).to.equal(0);

    // a failover: the block survives, chatctl and the auth node follow the new master
    const sentinel = new Redis(Number((sentinels as string).split(',')[0]?.split(':')[1]), '127.0.0.1');
    try {
      const before = (await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'securechat')) as string[];
      await sentinel.call('SENTINEL', 'FAILOVER', 'securechat');
      await waitFor(
        async () =>
          ((await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'securechat')) as string[])[1] !==
          before[1],
        { what: 'a new master', timeoutMs: 20_000 },
      );
    } finally {
      sentinel.disconnect();
    }
    await waitFor(() => chatctl(env, 'status', 'mallory').out.includes('mallory: blocked (test'), {
      what: 'chatctl on the new master',
      timeoutMs: 20_000,
      intervalMs: 500,
    });
    const ca = readFileSync(join(stateDir, 'tls', 'cert.pem'));
    const base = `https://127.0.0.1:${httpsPort}`;
    await waitFor(
      async () =>
        (
          await httpsSend(base, ca, 'POST', '/auth/register', {
            body: { username: 'after_failover', password: 'long enough pw' },
          })
        ).status === 201,
      { what: 'a registration written on the new master', timeoutMs: 20_000, intervalMs: 500 },
    );

    // SIGTERM stops every part, the Redis servers and sentinels included
    const ports = (redisUrls as string[]).map((u) => Number(new URL(u).port));
    await proc.stop('SIGTERM', 60_000);
    child = undefined;
    expect(proc.lines('stdout').some((l) => l === '[cluster] stopped')).to.equal(true);
    for (const port of [...ports, ...(sentinels as string).split(',').map((a) => Number(a.split(':')[1]))]) {
      expect(await redisPing(port, '127.0.0.1', 500), `port ${port}`).to.equal(false);
    }
  });
});
