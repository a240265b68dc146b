import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import express from 'express';
import type { Config, Logger } from '@securechat/common';
import { createMemoryAuthState, createMemoryChatState, MemoryCluster } from '@securechat/state';
import { generateSigningKey, loadSigningKey } from '@securechat/tokens';
import { createAuthNode } from '@securechat/auth';
import { createChatNode, type ChatNode } from '@securechat/chat';

const WEB_DIR = join(__dirname, '..', '..', '..', 'web');

const PLACEHOLDER = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>securechat</title></head>
<body><h1>securechat</h1><p>The auth API is under <code>/auth/</code> and the chat WebSocket at
<code>/ws</code>. See docs/PROTOCOL.md.</p></body></html>
`;

export interface Embedded {
  server: Server;
  chat: ChatNode;
  port: number;
  close(): Promise<void>;
}

/**
 * The whole product in one process: auth API, chat WebSocket and the web client on one
 * HTTP server, with memory state and (unless a key file is given) a generated key.
 */
export async function startEmbedded(config: Config, logger: Logger): Promise<Embedded> {
  const signingKey = config.jwtPrivateKeyFile
    ? loadSigningKey(config.jwtPrivateKeyFile)
    : generateSigningKey();
  const cluster = new MemoryCluster();
  const authState = createMemoryAuthState(
    {
      maxConsecutiveFailures: config.loginMaxConsecutiveFailures,
      maxFailuresPerAddressPerDay: config.loginMaxFailuresPerAddressPerDay,
    },
    Date.now,
    cluster.announce,
  );
  const auth = createAuthNode({ config, state: authState, signingKey, logger });
  const chatState = createMemoryChatState(cluster, authState, {
    nodeId: config.nodeId,
    presenceTtlMs: config.presenceTtlS * 1000,
    historyMaxLen: config.historyMaxLen,
  });
  await auth.ready();

  const app = express();
  app.disable('x-powered-by');
  if (existsSync(join(WEB_DIR, 'index.html'))) {
    app.use(express.static(WEB_DIR, { index: 'index.html', dotfiles: 'ignore' }));
  } else {
    app.get('/', (_req, res) => {
      res.type('html').send(PLACEHOLDER);
    });
  }
  app.use(auth.app);
  const server = createServer(app);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, resolve);
  });
  // After listening, an accept failure (EMFILE) is an 'error' event: log it, do not crash.
  server.on('error', (err) => logger.error('http server error', { err }));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const chat = createChatNode({
    config,
    listenPort: port,
    state: chatState,
    publicKeys: new Map([[signingKey.kid, signingKey.publicKey]]),
    logger,
  });
  await chat.start();
  server.on('upgrade', (req, socket, head: Buffer) => chat.handleUpgrade(req, socket, head));
  return {
    server,
    chat,
    port,
    close: async () => {
      await chat.drain(config.shutdownGraceMs);
      await chat.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
