import { expect } from 'chai';
import { loadConfig } from '@securechat/common';
import { authLimits, chatStateOptions } from '@securechat/state';

describe('state options from the configuration', () => {
  const env = {
    REDIS_URL: 'redis://127.0.0.1:1',
    JWT_PRIVATE_KEY_FILE: '/k',
    JWT_PUBLIC_KEYS_FILE: '/j',
    NODE_ID: 'chat-7',
    PRESENCE_TTL_S: '7',
    HISTORY_MAX_LEN: '20',
    HISTORY_MAX_AGE_S: '3600',
    CONFIGURE_KEYSPACE_EVENTS: 'false',
    LOGIN_MAX_CONSECUTIVE_FAILURES: '4',
    LOGIN_MAX_FAILURES_PER_ADDRESS_PER_DAY: '40',
    LOGIN_ACCOUNT_FREE_FAILURES: '5',
    LOGIN_ACCOUNT_MAX_DELAY_S: '60',
    REGISTER_MAX_PER_ADDRESS_PER_HOUR: '3',
    REGISTER_MAX_PER_ADDRESS_PER_DAY: '30',
  };

  it("turns a chat node's configuration into its chat state options, in every mode that runs one", () => {
    const expected = {
      nodeId: 'chat-7',
      presenceTtlMs: 7000,
      historyMaxLen: 20,
      historyMaxAgeMs: 3_600_000,
      configureKeyspaceEvents: false,
      waitReplicas: 0,
      waitTimeoutMs: 500,
    };
    expect(chatStateOptions(loadConfig(env, 'chat'))).to.deep.equal(expected);
    expect(chatStateOptions(loadConfig(env, 'embedded'))).to.deep.equal(expected);
  });

  it("turns an auth node's configuration into its login and registration limits", () => {
    const expected = {
      maxConsecutiveFailures: 4,
      maxFailuresPerAddressPerDay: 40,
      accountFreeFailures: 5,
      accountMaxDelayS: 60,
      registerMaxPerAddressPerHour: 3,
      registerMaxPerAddressPerDay: 30,
    };
    expect(authLimits(loadConfig(env, 'auth'))).to.deep.equal(expected);
    expect(authLimits(loadConfig(env, 'embedded'))).to.deep.equal(expected);
  });
});
