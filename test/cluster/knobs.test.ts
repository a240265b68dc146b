import { expect } from 'chai';
import { LOCAL_LIMITS, parseKnobs, passedEnvironment } from '@securechat/cluster';

describe('npm run cluster knobs', () => {
  it('defaults to the contract: 8443, 2 auth and 3 chat nodes, free ports otherwise', () => {
    const knobs = parseKnobs({}, '/repo');
    expect(knobs).to.deep.include({
      httpsPort: 8443,
      httpPort: undefined,
      redisPort: undefined,
      redisMode: 'single',
      authNodes: 2,
      chatNodes: 3,
      dir: '/repo/.cluster',
    });
    expect(knobs.limits).to.deep.equal({ ...LOCAL_LIMITS, authBurst: 1000, wsBurst: 4000 });
  });

  it('reads every knob and names the bad one', () => {
    const knobs = parseKnobs(
      {
        CLUSTER_HTTPS_PORT: '9443',
        CLUSTER_HTTP_PORT: '9080',
        CLUSTER_REDIS_PORT: '7000',
        CLUSTER_REDIS_MODE: 'sentinel',
        CLUSTER_AUTH_NODES: '1',
        CLUSTER_CHAT_NODES: '5',
        CLUSTER_DIR: '/var/tmp/c',
      },
      '/repo',
    );
    expect(knobs).to.deep.include({
      httpsPort: 9443,
      httpPort: 9080,
      redisPort: 7000,
      redisMode: 'sentinel',
      authNodes: 1,
      chatNodes: 5,
    });
    expect(knobs.dir).to.equal('/var/tmp/c');
    expect(() => parseKnobs({ CLUSTER_CHAT_NODES: '0' }, '/repo')).to.throw('CLUSTER_CHAT_NODES');
    expect(() => parseKnobs({ CLUSTER_HTTPS_PORT: '8443x' }, '/repo')).to.throw('CLUSTER_HTTPS_PORT');
    expect(() => parseKnobs({ CLUSTER_REDIS_PORT: '70000' }, '/repo')).to.throw('CLUSTER_REDIS_PORT');
    expect(() => parseKnobs({ CLUSTER_REDIS_MODE: 'sharded' }, '/repo')).to.throw('CLUSTER_REDIS_MODE');
  });

  it('reads CLUSTER_REDIS_MODE: single by default, sentinel or cluster, anything else refused', () => {
    expect(parseKnobs({}, '/repo').redisMode).to.equal('single');
    expect(parseKnobs({ CLUSTER_REDIS_MODE: 'cluster' }, '/repo').redisMode).to.equal('cluster');
    expect(parseKnobs({ CLUSTER_REDIS_MODE: 'sentinel' }, '/repo').redisMode).to.equal('sentinel');
    expect(() => parseKnobs({ CLUSTER_REDIS_MODE: 'shard' }, '/repo')).to.throw('CLUSTER_REDIS_MODE');
  });

  it('passes every other variable on to the nodes', () => {
    const env = passedEnvironment({
      CLUSTER_CHAT_NODES: '3',
      RATE_LIMIT_MAX: '50',
      LOG_LEVEL: 'debug',
      PATH: '/bin',
    });
    expect(env).to.deep.equal({ RATE_LIMIT_MAX: '50', LOG_LEVEL: 'debug', PATH: '/bin' });
  });
});
