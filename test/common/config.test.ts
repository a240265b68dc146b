import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CONFIG_VARIABLES,
  ConfigError,
  loadConfig,
  type EmbeddedConfig,
  type RedisTarget,
  type ServiceMode,
} from '@securechat/common';

function refusal(env: Record<string, string>, mode: ServiceMode = 'embedded'): ConfigError {
  try {
    loadConfig(env, mode);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return err as ConfigError;
  }
  expect.fail(`accepted ${JSON.stringify(env)}`);
}

describe('configuration', () => {
  it('opens the metrics listener on loopback:9464 by default; METRICS_PORT=0 is any port, off none', () => {
    const config = loadConfig({}, 'embedded');
    expect([config.metricsHost, config.metricsPort]).to.deep.equal(['127.0.0.1', 9464]);
    expect(loadConfig({ METRICS_PORT: '0' }, 'embedded').metricsPort).to.equal(0);
    expect(loadConfig({ METRICS_PORT: 'off' }, 'embedded').metricsPort).to.equal(undefined);
    expect(loadConfig({ METRICS_PORT: 'OFF', METRICS_HOST: '0.0.0.0' }, 'embedded')).to.deep.include({
      metricsPort: undefined,
      metricsHost: '0.0.0.0',
    });
    for (const bad of ['65536', '-1', 'ninety', '94 64', 'no']) {
      const err = refusal({ METRICS_PORT: bad });
      expect(err.variable, bad).to.equal('METRICS_PORT');
      expect(err.message).to.include('or off');
    }
    expect(refusal({ METRICS_HOST: ' ' }).variable).to.equal('METRICS_HOST');
  });

  it('has the documented defaults', () => {
    const config = loadConfig({}, 'embedded');
    const expected: Partial<EmbeddedConfig> = {
      port: 8080,
      host: '127.0.0.1',
      redisTarget: undefined,
      redisPrefix: 'chat:',
      allowMissingOrigin: false,
      jwtPrivateKeyFile: undefined,
      jwtIssuer: 'securechat',
      jwtAudience: 'securechat',
      accessTokenTtlS: 900,
      refreshTokenTtlS: 604800,
      rateLimitMax: 10,
      rateLimitWindowMs: 60000,
      blockAfterViolations: 20,
      blockDurationS: 3600,
      maxMessageBytes: 65536,
      maxConnectionsPerUser: 20,
      maxConnectionsPerAddress: 200,
      maxHandshakesPerAddressPerMin: 120,
      handshakeMaxWaitMs: 4000,
      handshakeMinPending: 500,
      handshakeMaxLagMs: 500,
      handshakeRetryAfterMs: 1000,
      logLevel: 'info',
      bcryptCost: 10,
      loginMaxConsecutiveFailures: 10,
      loginMaxFailuresPerAddressPerDay: 100,
      loginLimiterOnRedisError: 'fail-closed',
      maxBodyBytes: 8192,
      redisCommandTimeoutMs: 1000,
      shutdownGraceMs: 10000,
      pingIntervalMs: 25000,
      registerMaxPerAddressPerHour: 20,
      registerMaxPerAddressPerDay: 100,
      loginAccountFreeFailures: 10,
      loginAccountMaxDelayS: 300,
      allowQueryToken: true,
      httpHeadersTimeoutMs: 10000,
      redisUsername: undefined,
      redisPassword: undefined,
    };
    expect(config).to.include(expected);
    expect(config.allowedOrigins).to.deep.equal([]);
    expect(config.trustProxy.ranges).to.have.length(0);
    expect(config.nodeId).to.match(/^[A-Za-z0-9_.-]{1,64}$/);
  });

  it('reads every value given', () => {
    const config = loadConfig(
      {
        PORT: '9000',
        HOST: '0.0.0.0',
        REDIS_URL: 'rediss://user:pw@redis.example:6380/2',
        REDIS_PREFIX: 'sc:',
        ALLOWED_ORIGINS: 'https://chat.example, http://localhost:3000',
        ALLOW_MISSING_ORIGIN: 'true',
        ACCESS_TOKEN_TTL_S: '5',
        TRUST_PROXY: '10.0.0.0/8, ::1',
        LOG_LEVEL: 'debug',
        BCRYPT_COST: '12',
        LOGIN_LIMITER_ON_REDIS_ERROR: 'fail-open',
        NODE_ID: 'auth-1',
      },
      'embedded',
    );
    expect(config.redisTarget).to.deep.equal({
      mode: 'single',
      url: 'rediss://user:pw@redis.example:6380/2',
      tls: true,
    });
    expect(config).to.include({
      port: 9000,
      host: '0.0.0.0',
      redisPrefix: 'sc:',
      allowMissingOrigin: true,
      accessTokenTtlS: 5,
      logLevel: 'debug',
      bcryptCost: 12,
      loginLimiterOnRedisError: 'fail-open',
      nodeId: 'auth-1',
    });
    expect(config.allowedOrigins).to.deep.equal(['https://chat.example', 'http://localhost:3000']);
    expect(config.trustProxy.ranges).to.have.length(2);
  });

  it('is frozen', () => {
    const config = loadConfig({ ALLOWED_ORIGINS: 'https://a.example', TRUST_PROXY: '127.0.0.1' }, 'embedded');
    expect(Object.isFrozen(config)).to.equal(true);
    expect(Object.isFrozen(config.allowedOrigins)).to.equal(true);
    expect(Object.isFrozen(config.trustProxy)).to.equal(true);
    expect(Object.isFrozen(config.trustProxy.ranges)).to.equal(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).to.throw(TypeError);
    expect(() => (config.allowedOrigins as string[]).push('https://evil.example')).to.throw(TypeError);
  });

  const bad: [string, string][] = [
    ['PORT', 'http'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['HOST', ''],
    ['REDIS_URL', 'http://redis:6379'],
    ['REDIS_URL', 'redis://has space'],
    ['REDIS_PREFIX', 'chat *'],
    ['REDIS_PREFIX', 'x'.repeat(65)],
    ['ALLOWED_ORIGINS', 'https://chat.example/'],
    ['ALLOWED_ORIGINS', 'chat.example'],
    ['ALLOWED_ORIGINS', 'ftp://chat.example'],
    ['ALLOW_MISSING_ORIGIN', 'maybe'],
    ['JWT_ISSUER', ''],
    ['JWT_AUDIENCE', ''],
    ['ACCESS_TOKEN_TTL_S', '4'],
    ['ACCESS_TOKEN_TTL_S', '86401'],
    ['REFRESH_TOKEN_TTL_S', '10'],
    ['RATE_LIMIT_MAX', '0'],
    ['RATE_LIMIT_WINDOW_MS', 'soon'],
    ['BLOCK_AFTER_VIOLATIONS', '0'],
    ['BLOCK_DURATION_S', '0'],
    ['MAX_MESSAGE_BYTES', '1'],
    ['MAX_CONNECTIONS_PER_USER', '0'],
    ['MAX_CONNECTIONS_PER_ADDRESS', '0'],
    ['MAX_HANDSHAKES_PER_ADDRESS_PER_MIN', '0'],
    ['HANDSHAKE_MAX_WAIT_MS', '-1'],
    ['HANDSHAKE_MIN_PENDING', '0'],
    ['HANDSHAKE_MAX_LAG_MS', '1'],
    ['HANDSHAKE_RETRY_AFTER_MS', '10'],
    ['TRUST_PROXY', 'proxy.example'],
    ['TRUST_PROXY', '10.0.0.0/33'],
    ['LOG_LEVEL', 'loud'],
    ['BCRYPT_COST', '9'],
    ['BCRYPT_COST', '16'],
    ['LOGIN_MAX_CONSECUTIVE_FAILURES', '0'],
    ['LOGIN_MAX_FAILURES_PER_ADDRESS_PER_DAY', '0'],
    ['LOGIN_LIMITER_ON_REDIS_ERROR', 'sometimes'],
    ['NODE_ID', 'has space'],
    ['PING_INTERVAL_MS', '1'],
    ['HISTORY_MAX_LEN', '1'],
    ['MAX_BUFFERED_BYTES', '1'],
    ['SHUTDOWN_GRACE_MS', '-5'],
    ['REDIS_COMMAND_TIMEOUT_MS', '1'],
    ['PRESENCE_TTL_S', '0'],
    ['MAX_BODY_BYTES', '10'],
    ['REGISTER_MAX_PER_ADDRESS_PER_HOUR', '0'],
    ['REGISTER_MAX_PER_ADDRESS_PER_DAY', 'many'],
    ['LOGIN_ACCOUNT_FREE_FAILURES', '0'],
    ['LOGIN_ACCOUNT_MAX_DELAY_S', '0'],
    ['ALLOW_QUERY_TOKEN', 'sometimes'],
    ['HTTP_HEADERS_TIMEOUT_MS', '10'],
    ['REDIS_USERNAME', 'has space'],
    ['REDIS_PASSWORD_FILE', '/nonexistent/redis.password'],
  ];
  for (const [variable, value] of bad) {
    it(`stops on ${variable}=${JSON.stringify(value)}, naming the variable`, () => {
      const err = refusal({ [variable]: value });
      expect(err.variable).to.equal(variable);
      expect(err.message).to.match(new RegExp(`^invalid configuration: ${variable} \\S`));
    });
  }

  it('names the first bad variable when several are bad', () => {
    expect(refusal({ PORT: 'x', BCRYPT_COST: '1' }).message).to.match(/PORT|BCRYPT_COST/);
  });

  it('requires REDIS_URL (or another Redis mode) for a service started alone, not in embedded mode', () => {
    expect(refusal({ JWT_PRIVATE_KEY_FILE: '/k.pem' }, 'auth').variable).to.equal('REDIS_URL');
    expect(refusal({ JWT_PUBLIC_KEYS_FILE: '/jwks.json' }, 'chat').variable).to.equal('REDIS_URL');
    expect(refusal({}, 'ops').message).to.equal(
      'invalid configuration: REDIS_URL is required (or REDIS_SENTINELS with REDIS_SENTINEL_NAME, or REDIS_CLUSTER_NODES)',
    );
    expect(loadConfig({}, 'embedded').redisTarget).to.equal(undefined);
  });

  it('requires the key file each service needs', () => {
    expect(refusal({ REDIS_URL: 'redis://127.0.0.1:1' }, 'auth').variable).to.equal('JWT_PRIVATE_KEY_FILE');
    expect(refusal({ REDIS_URL: 'redis://127.0.0.1:1' }, 'chat').variable).to.equal('JWT_PUBLIC_KEYS_FILE');
    const auth = loadConfig({ REDIS_URL: 'redis://127.0.0.1:1', JWT_PRIVATE_KEY_FILE: '/k.pem' }, 'auth');
    expect(auth.jwtPrivateKeyFile).to.equal('/k.pem');
  });

  it('validates every variable in every mode', () => {
    const base = { REDIS_URL: 'redis://127.0.0.1:1', JWT_PRIVATE_KEY_FILE: '/k', JWT_PUBLIC_KEYS_FILE: '/j' };
    for (const mode of ['embedded', 'auth', 'chat', 'ops'] as const) {
      // one variable a chat node never reads, one an auth node never reads
      expect(refusal({ ...base, BCRYPT_COST: '9' }, mode).variable, mode).to.equal('BCRYPT_COST');
      expect(refusal({ ...base, MAX_MESSAGE_BYTES: '1' }, mode).variable, mode).to.equal('MAX_MESSAGE_BYTES');
    }
  });

  describe('a type per mode', () => {
    const SINGLE = { mode: 'single', url: 'redis://127.0.0.1:1', tls: false };
    const env = {
      REDIS_URL: 'redis://127.0.0.1:1',
      JWT_PRIVATE_KEY_FILE: '/keys/private.pem',
      JWT_PUBLIC_KEYS_FILE: '/keys/jwks.json',
    };
    const authOnly = ['bcryptCost', 'refreshTokenTtlS', 'loginLimiterOnRedisError', 'maxBodyBytes'];
    const chatOnly = [
      'maxMessageBytes',
      'allowMissingOrigin',
      'rateLimitMax',
      'presenceTtlS',
      'historyMaxLen',
    ];

    it('chat: what it requires is a string, and no auth node setting', () => {
      const chat = loadConfig(env, 'chat');
      // compile-time checks: these assignments need no cast
      const target: RedisTarget = chat.redisTarget;
      const keys: string = chat.jwtPublicKeysFile;
      expect([target, keys]).to.deep.equal([SINGLE, '/keys/jwks.json']);
      // @ts-expect-error a chat node never holds the signing key
      expect(chat.jwtPrivateKeyFile).to.equal(undefined);
      // @ts-expect-error nor any setting of an auth node
      expect(chat.bcryptCost).to.equal(undefined);
      for (const field of authOnly) expect(chat).not.to.have.property(field);
      for (const field of chatOnly) expect(chat).to.have.property(field);
      expect(Object.isFrozen(chat)).to.equal(true);
    });

    it('auth: its signing key is a string, and no chat node setting', () => {
      const auth = loadConfig(env, 'auth');
      const target: RedisTarget = auth.redisTarget;
      const key: string = auth.jwtPrivateKeyFile;
      expect([target, key]).to.deep.equal([SINGLE, '/keys/private.pem']);
      // optional on an auth node: the keys of a rotation in progress
      expect(auth.jwtPublicKeysFile).to.equal('/keys/jwks.json');
      expect(loadConfig({ ...env, JWT_PUBLIC_KEYS_FILE: '' }, 'auth').jwtPublicKeysFile).to.equal(undefined);
      // @ts-expect-error nor any setting of a chat node
      expect(auth.maxMessageBytes).to.equal(undefined);
      for (const field of chatOnly) expect(auth).not.to.have.property(field);
      for (const field of authOnly) expect(auth).to.have.property(field);
      // both nodes answer browsers: the chat node's handshakes, the auth node's CORS and cookie
      const origins: readonly string[] = auth.allowedOrigins;
      expect(origins).to.deep.equal(loadConfig(env, 'chat').allowedOrigins);
    });

    it("embedded: both nodes' settings, Redis and the key file optional", () => {
      const embedded = loadConfig({}, 'embedded');
      for (const field of [...authOnly, ...chatOnly]) expect(embedded).to.have.property(field);
      // @ts-expect-error embedded mode runs on memory state without a Redis
      const target: RedisTarget = embedded.redisTarget;
      expect(target).to.equal(undefined);
      expect(embedded.jwtPrivateKeyFile).to.equal(undefined);
      expect(loadConfig(env, 'embedded').redisTarget).to.deep.equal(SINGLE);
    });

    it('ops (chatctl): only what its commands need', () => {
      const ops = loadConfig({ ...env, REDIS_PREFIX: 'sc:', RATE_LIMIT_WINDOW_MS: '1000' }, 'ops');
      const target: RedisTarget = ops.redisTarget;
      expect(target).to.deep.equal(SINGLE);
      expect({ ...ops }).to.deep.equal({
        redisTarget: SINGLE,
        redisPrefix: 'sc:',
        redisCommandTimeoutMs: 1000,
        // chatctl connects as the operator's Redis ACL user when one is configured
        redisUsername: undefined,
        redisPassword: undefined,
        redisSentinelUsername: undefined,
        redisSentinelPassword: undefined,
        accessTokenTtlS: 900,
        rateLimitWindowMs: 1000,
      });
    });
  });

  it('treats an empty optional variable as unset', () => {
    const config = loadConfig({ REDIS_URL: '', TRUST_PROXY: '', ALLOWED_ORIGINS: '' }, 'embedded');
    expect(config.redisTarget).to.equal(undefined);
    expect(config.trustProxy.ranges).to.have.length(0);
    expect(config.allowedOrigins).to.deep.equal([]);
  });

  it('is documented: README.md names every variable in its configuration table', () => {
    const readme = readFileSync(join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## Documentation'));
    const named = new Set([...table.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]));
    expect(CONFIG_VARIABLES.filter((v) => !named.has(v))).to.deep.equal([]);
  });

  it('names nodes at random by default: no host name or pid reaches clients through NODE_ID', () => {
    const a = loadConfig({}, 'embedded').nodeId;
    expect(a).to.match(/^node-[0-9a-f]{12}$/);
    expect(a).not.to.include(hostname());
    expect(a).not.to.include(String(process.pid));
  });

  describe('Redis modes', () => {
    const sentinels = 'redis-a:26379, 10.0.0.2:26380,[::1]:26381';

    it('selects a single server, a Sentinel group or a Redis Cluster', () => {
      expect(loadConfig({ REDIS_URL: 'redis://h:6379' }, 'ops').redisTarget).to.deep.equal({
        mode: 'single',
        url: 'redis://h:6379',
        tls: false,
      });
      const sentinel = loadConfig({ REDIS_SENTINELS: sentinels, REDIS_SENTINEL_NAME: 'mymaster' }, 'ops');
      expect(sentinel.redisTarget).to.deep.equal({
        mode: 'sentinel',
        sentinels: [
          { host: 'redis-a', port: 26379 },
          { host: '10.0.0.2', port: 26380 },
          { host: '::1', port: 26381 },
        ],
        name: 'mymaster',
        tls: false,
      });
      expect(Object.isFrozen(sentinel.redisTarget)).to.equal(true);
      const cluster = loadConfig({ REDIS_CLUSTER_NODES: 'n1:7000,n2:7001', REDIS_TLS: 'true' }, 'ops');
      expect(cluster.redisTarget).to.deep.equal({
        mode: 'cluster',
        nodes: [
          { host: 'n1', port: 7000 },
          { host: 'n2', port: 7001 },
        ],
        tls: true,
      });
      // every mode satisfies a node started alone
      for (const env of [
        { REDIS_SENTINELS: sentinels, REDIS_SENTINEL_NAME: 'm' },
        { REDIS_CLUSTER_NODES: 'n1:7000' },
      ]) {
        expect(loadConfig({ ...env, JWT_PUBLIC_KEYS_FILE: '/j' }, 'chat').redisTarget.mode).not.to.equal(
          'single',
        );
        expect(loadConfig({ ...env, JWT_PRIVATE_KEY_FILE: '/k' }, 'auth').redisTarget.mode).not.to.equal(
          'single',
        );
      }
    });

    it('stops at a bad combination, naming the variable', () => {
      const cases: [Record<string, string>, string, RegExp][] = [
        [
          { REDIS_URL: 'redis://h:1', REDIS_SENTINELS: 's:1', REDIS_SENTINEL_NAME: 'm' },
          'REDIS_SENTINELS',
          /REDIS_URL/,
        ],
        [{ REDIS_URL: 'redis://h:1', REDIS_CLUSTER_NODES: 'n:1' }, 'REDIS_CLUSTER_NODES', /one Redis mode/],
        [
          { REDIS_SENTINELS: 's:1', REDIS_SENTINEL_NAME: 'm', REDIS_CLUSTER_NODES: 'n:1' },
          'REDIS_CLUSTER_NODES',
          /REDIS_SENTINELS/,
        ],
        [{ REDIS_SENTINELS: 's:1' }, 'REDIS_SENTINEL_NAME', /required with REDIS_SENTINELS/],
        [{ REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINEL_NAME', /needs REDIS_SENTINELS/],
        [
          { REDIS_URL: 'redis://h:1', REDIS_SENTINEL_NAME: 'm' },
          'REDIS_SENTINEL_NAME',
          /needs REDIS_SENTINELS/,
        ],
        [{ REDIS_SENTINELS: 's:1', REDIS_SENTINEL_NAME: 'my master' }, 'REDIS_SENTINEL_NAME', /1-64/],
        [{ REDIS_SENTINELS: 's', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINELS', /host:port/],
        [{ REDIS_SENTINELS: 's:1,,t:2', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINELS', /host:port/],
        [{ REDIS_CLUSTER_NODES: 'n:0' }, 'REDIS_CLUSTER_NODES', /host:port/],
        [{ REDIS_CLUSTER_NODES: 'n:70000' }, 'REDIS_CLUSTER_NODES', /host:port/],
        [{ REDIS_CLUSTER_NODES: 'redis://n:7000' }, 'REDIS_CLUSTER_NODES', /host:port/],
        [{ REDIS_URL: 'redis://h:1', REDIS_TLS: 'true' }, 'REDIS_TLS', /rediss:/],
        [{ REDIS_URL: 'rediss://h:1', REDIS_TLS: 'false' }, 'REDIS_TLS', /rediss:/],
        [{ REDIS_TLS: 'true' }, 'REDIS_TLS', /needs a Redis/],
        [{ REDIS_CLUSTER_NODES: 'n:1', REDIS_TLS: 'maybe' }, 'REDIS_TLS', /true or false/],
        [
          { REDIS_URL: 'redis://h:1', REDIS_SENTINEL_PASSWORD: 'x' },
          'REDIS_SENTINEL_PASSWORD',
          /only for Sentinel/,
        ],
        [
          { REDIS_SENTINELS: 's:1', REDIS_SENTINEL_NAME: 'm', REDIS_SENTINEL_USERNAME: 'u' },
          'REDIS_SENTINEL_USERNAME',
          /needs REDIS_SENTINEL_PASSWORD/,
        ],
      ];
      for (const [env, variable, message] of cases) {
        const err = refusal(env);
        expect(err.variable, JSON.stringify(env)).to.equal(variable);
        expect(err.message, JSON.stringify(env)).to.match(message);
      }
    });

    it('reads REDIS_TLS_CA_FILE into the target, with TLS only, stopping at a file that holds no certificate', () => {
      const dir = mkdtempSync(join(tmpdir(), 'securechat-ca-'));
      try {
        const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
        const caFile = join(dir, 'ca.pem');
        writeFileSync(caFile, pem);
        const single = loadConfig({ REDIS_URL: 'rediss://h:6380', REDIS_TLS_CA_FILE: caFile }, 'ops');
        expect(single.redisTarget).to.deep.equal({
          mode: 'single',
          url: 'rediss://h:6380',
          tls: true,
          ca: pem,
        });
        expect(single).not.to.have.property('redisTlsCaFile').that.is.a('string');
        const sentinel = loadConfig(
          {
            REDIS_SENTINELS: 's:26379',
            REDIS_SENTINEL_NAME: 'm',
            REDIS_TLS: 'true',
            REDIS_TLS_CA_FILE: caFile,
          },
          'ops',
        );
        expect(sentinel.redisTarget).to.include({ mode: 'sentinel', tls: true, ca: pem });
        expect(Object.isFrozen(sentinel.redisTarget)).to.equal(true);
        const notPem = join(dir, 'key.txt');
        writeFileSync(notPem, 'not a certificate');
        for (const [env, message] of [
          [{ REDIS_URL: 'redis://h:1', REDIS_TLS_CA_FILE: caFile }, /needs TLS/],
          [{ REDIS_CLUSTER_NODES: 'n:1', REDIS_TLS_CA_FILE: caFile }, /needs TLS/],
          [{ REDIS_TLS_CA_FILE: caFile }, /needs TLS/],
          [
            { REDIS_URL: 'rediss://h:1', REDIS_TLS_CA_FILE: join(dir, 'missing.pem') },
            /cannot be read \(ENOENT\)/,
          ],
          [{ REDIS_URL: 'rediss://h:1', REDIS_TLS_CA_FILE: notPem }, /no PEM certificate/],
        ] as const) {
          const err = refusal(env);
          expect(err.variable, JSON.stringify(env)).to.equal('REDIS_TLS_CA_FILE');
          expect(err.message, JSON.stringify(env)).to.match(message);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('waits for replicas only when asked, within a timeout below the command timeout', () => {
      expect(loadConfig({}, 'embedded')).to.include({ redisWaitReplicas: 0, redisWaitTimeoutMs: 500 });
      const chat = loadConfig(
        {
          REDIS_URL: 'redis://h:1',
          JWT_PUBLIC_KEYS_FILE: '/j',
          REDIS_WAIT_REPLICAS: '1',
          REDIS_WAIT_TIMEOUT_MS: '200',
        },
        'chat',
      );
      expect(chat).to.include({ redisWaitReplicas: 1, redisWaitTimeoutMs: 200 });
      const late = refusal({ REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '1000' });
      expect(late.variable).to.equal('REDIS_WAIT_TIMEOUT_MS');
      expect(late.message).to.include('REDIS_COMMAND_TIMEOUT_MS');
      expect(refusal({ REDIS_WAIT_TIMEOUT_MS: '0' }).variable).to.equal('REDIS_WAIT_TIMEOUT_MS');
      expect(refusal({ REDIS_WAIT_REPLICAS: '-1' }).variable).to.equal('REDIS_WAIT_REPLICAS');
    });

    it('takes TLS from the scheme in single mode, from REDIS_TLS in the others', () => {
      expect(loadConfig({ REDIS_URL: 'rediss://h:1', REDIS_TLS: 'true' }, 'ops').redisTarget.tls).to.equal(
        true,
      );
      expect(loadConfig({ REDIS_URL: 'redis://h:1', REDIS_TLS: 'false' }, 'ops').redisTarget.tls).to.equal(
        false,
      );
      const env = { REDIS_SENTINELS: 's:1', REDIS_SENTINEL_NAME: 'm' };
      expect(loadConfig(env, 'ops').redisTarget.tls).to.equal(false);
      expect(loadConfig({ ...env, REDIS_TLS: 'yes' }, 'ops').redisTarget.tls).to.equal(true);
    });

    it('reads the credentials of the data nodes and, apart, of the sentinels', () => {
      const config = loadConfig(
        {
          REDIS_SENTINELS: 's:1',
          REDIS_SENTINEL_NAME: 'm',
          REDIS_USERNAME: 'securechat-chat',
          REDIS_PASSWORD: 'data-pw',
          REDIS_SENTINEL_USERNAME: 'sentinel-user',
          REDIS_SENTINEL_PASSWORD: 'sentinel-pw',
        },
        'ops',
      );
      expect(config).to.include({
        redisUsername: 'securechat-chat',
        redisPassword: 'data-pw',
        redisSentinelUsername: 'sentinel-user',
        redisSentinelPassword: 'sentinel-pw',
      });
      // the sentinels may ask for a password alone (requirepass)
      const passwordOnly = loadConfig(
        { REDIS_SENTINELS: 's:1', REDIS_SENTINEL_NAME: 'm', REDIS_SENTINEL_PASSWORD: 'p' },
        'ops',
      );
      expect(passwordOnly).to.include({ redisSentinelUsername: undefined, redisSentinelPassword: 'p' });
      const cluster = loadConfig(
        { REDIS_CLUSTER_NODES: 'n:1', REDIS_USERNAME: 'u', REDIS_PASSWORD: 'p' },
        'ops',
      );
      expect(cluster).to.include({ redisUsername: 'u', redisPassword: 'p' });
    });
  });

  describe('Redis credentials', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'securechat-config-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));
    const url = 'redis://127.0.0.1:6379';

    it('reads REDIS_USERNAME with REDIS_PASSWORD, or with the first line of REDIS_PASSWORD_FILE', () => {
      const given = loadConfig(
        { REDIS_URL: url, REDIS_USERNAME: 'chat', REDIS_PASSWORD: ' p w ' },
        'embedded',
      );
      expect(given).to.include({ redisUsername: 'chat', redisPassword: ' p w ' });
      const file = join(dir, 'password');
      writeFileSync(file, 's3cret-from-a-file\n');
      const filed = loadConfig(
        { REDIS_URL: url, REDIS_USERNAME: 'chat', REDIS_PASSWORD_FILE: file },
        'embedded',
      );
      expect(filed).to.include({ redisUsername: 'chat', redisPassword: 's3cret-from-a-file' });
      // credentials in the URL alone are the URL's business (ioredis reads them)
      const inUrl = loadConfig({ REDIS_URL: 'redis://chat:pw@127.0.0.1:6379' }, 'embedded');
      expect(inUrl).to.include({ redisUsername: undefined, redisPassword: undefined });
    });

    it('refuses two sources for one credential, an empty file and a user without a password', () => {
      const file = join(dir, 'empty');
      writeFileSync(file, '\n');
      expect(refusal({ REDIS_PASSWORD: 'a', REDIS_PASSWORD_FILE: file }).variable).to.equal(
        'REDIS_PASSWORD_FILE',
      );
      expect(refusal({ REDIS_URL: 'redis://:pw@h:1', REDIS_PASSWORD: 'b' }).variable).to.equal(
        'REDIS_PASSWORD',
      );
      expect(refusal({ REDIS_URL: 'redis://u:pw@h:1', REDIS_USERNAME: 'v' }).variable).to.equal(
        'REDIS_USERNAME',
      );
      expect(refusal({ REDIS_USERNAME: 'chat' }).variable).to.equal('REDIS_USERNAME');
      const empty = refusal({ REDIS_USERNAME: 'chat', REDIS_PASSWORD_FILE: file });
      expect(empty.variable).to.equal('REDIS_PASSWORD_FILE');
      // the message never holds a password
      expect(refusal({ REDIS_URL: 'redis://:pw@h:1', REDIS_PASSWORD: 'b' }).message).not.to.match(
        /\bpw\b|\bb\b/,
      );
    });
  });
});
