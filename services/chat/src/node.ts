import type { KeyObject } from 'node:crypto';
import { ownOrigins, type ChatNodeConfig, type Logger } from '@securechat/common';
import type { ChatState } from '@securechat/state';
import { TokenVerifier } from '@securechat/tokens';
import { ChatNode, type ChatNodeOptions } from './chat-node';
import type { ChatMetrics } from './metrics';

/** The node's options from the process configuration. */
export function chatOptions(config: ChatNodeConfig, listenPort: number): ChatNodeOptions {
  const origins = config.allowedOrigins.length > 0 ? config.allowedOrigins : ownOrigins(config, listenPort);
  return {
    nodeId: config.nodeId,
    origins: { allowed: new Set(origins), allowMissing: config.allowMissingOrigin },
    trustProxy: config.trustProxy,
    allowQueryToken: config.allowQueryToken,
    maxMessageBytes: config.maxMessageBytes,
    maxBufferedBytes: config.maxBufferedBytes,
    maxConnectionsPerUser: config.maxConnectionsPerUser,
    maxConnectionsPerAddress: config.maxConnectionsPerAddress,
    maxHandshakesPerAddressPerMin: config.maxHandshakesPerAddressPerMin,
    handshakeMaxWaitMs: config.handshakeMaxWaitMs,
    handshakeMinPending: config.handshakeMinPending,
    handshakeMaxLagMs: config.handshakeMaxLagMs,
    handshakeRetryAfterMs: config.handshakeRetryAfterMs,
    pingIntervalMs: config.pingIntervalMs,
    presenceTtlMs: config.presenceTtlS * 1000,
    historyMaxLen: config.historyMaxLen,
    pageMaxBytes: config.pageMaxBytes,
    replayMaxBytes: config.replayMaxBytes,
    connectionBytesPerS: config.connectionBytesPerS,
    userBytesPerS: config.userBytesPerS,
    rateLimits: {
      max: config.rateLimitMax,
      windowMs: config.rateLimitWindowMs,
      blockAfterViolations: config.blockAfterViolations,
      blockDurationS: config.blockDurationS,
    },
    revalidateIntervalMs: config.revalidateIntervalMs,
    expiryToleranceMs: 2000,
  };
}

export interface ChatNodeSetup {
  config: ChatNodeConfig;
  listenPort: number;
  state: ChatState;
  publicKeys: ReadonlyMap<string, KeyObject>;
  logger: Logger;
  metrics?: ChatMetrics;
}

/** The composition root of a chat node, shared by `start:chat` and embedded mode. */
export function createChatNode(setup: ChatNodeSetup): ChatNode {
  const { config } = setup;
  const verifier = new TokenVerifier(setup.publicKeys, {
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
  });
  return new ChatNode({
    options: chatOptions(config, setup.listenPort),
    state: setup.state,
    verifier,
    logger: setup.logger,
    metrics: setup.metrics,
  });
}
