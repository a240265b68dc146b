import type { IncomingMessage, ServerResponse } from 'node:http';

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(text);
}

/** Plain HTTP on a chat node: liveness, readiness, and JSON 404s for everything else. */
export function healthHandler(ready: () => Promise<boolean>) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') return json(res, 200, { status: 'ok' });
    if (req.method === 'GET' && path === '/readyz') {
      ready().then(
        (ok) =>
          json(res, ok ? 200 : 503, ok ? { status: 'ready' } : { error: 'not_ready', message: 'not ready' }),
        () => json(res, 503, { error: 'not_ready', message: 'not ready' }),
      );
      return;
    }
    json(res, 404, { error: 'not_found', message: 'no such endpoint' });
  };
}
