import type { IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpsReply {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  text: string;
}

export interface HttpsRequestOptions {
  /** Sent as JSON, with its Content-Type. */
  body?: unknown;
  headers?: Record<string, string>;
}

/**
 * One HTTPS request to `baseUrl + path`, trusting only `ca` (the test's own certificate),
 * on a fresh connection: nginx sees every request as a new client.
 */
export function httpsSend(
  baseUrl: string,
  ca: string | Buffer,
  method: string,
  path: string,
  options: HttpsRequestOptions = {},
): Promise<HttpsReply> {
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${baseUrl}${path}`,
      {
        method,
        ca,
        agent: false,
        headers: {
          ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
          ...options.headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, text }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
