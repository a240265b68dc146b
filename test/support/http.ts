import { expect } from 'chai';

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed JSON body, or undefined when the body is not JSON. */
  json: unknown;
}

export interface SendOptions {
  json?: unknown;
  /** A raw body; a string is sent as text/plain by fetch, bytes with no type. */
  body?: string | Uint8Array;
  headers?: Record<string, string>;
}

/** The fields of a JSON object body (fails the test when the body is not one). */
export function fields(reply: Reply): Record<string, unknown> {
  expect(reply.json, `body of a ${reply.status}: ${reply.text.slice(0, 200)}`).to.be.an('object');
  return reply.json as Record<string, unknown>;
}

/**
 * Checks what every response of the auth API must satisfy: no X-Powered-By, and an
 * error body that is exactly {"error", "message"} with no stack trace in it.
 */
export function checkInvariants(reply: Reply): void {
  expect(reply.headers.get('x-powered-by'), 'X-Powered-By').to.equal(null);
  if (reply.status < 400) return;
  expect(reply.headers.get('content-type') ?? '').to.match(/^application\/json/);
  const body = fields(reply);
  expect(Object.keys(body).sort()).to.deep.equal(['error', 'message']);
  expect(body.error).to.be.a('string');
  expect(body.message).to.be.a('string');
  expect(reply.text).not.to.match(/\bat .+:\d+:\d+|node_modules|\/dist\/|Error:/);
}

/** A small fetch wrapper bound to one base URL; every reply goes through checkInvariants. */
export class Client {
  constructor(readonly base: string) {}

  async send(method: string, path: string, options: SendOptions = {}): Promise<Reply> {
    const headers: Record<string, string> = { ...options.headers };
    let body: string | Uint8Array | undefined = options.body;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] ??= 'application/json';
    }
    // A fresh Uint8Array: fetch's types take bytes over an ArrayBuffer, not any buffer.
    const payload = body === undefined || typeof body === 'string' ? body : new Uint8Array(body);
    const res = await fetch(new URL(path, this.base), { method, headers, body: payload });
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : (JSON.parse(text) as unknown);
    } catch {
      json = undefined;
    }
    const reply = { status: res.status, headers: res.headers, text, json };
    checkInvariants(reply);
    return reply;
  }

  post(path: string, json: unknown, headers: Record<string, string> = {}): Promise<Reply> {
    return this.send('POST', path, { json, headers });
  }

  get(path: string, headers: Record<string, string> = {}): Promise<Reply> {
    return this.send('GET', path, { headers });
  }
}

/** Asserts a reply is the given error, exactly as the contract writes it. */
export function expectError(reply: Reply, status: number, code: string): void {
  expect(reply.status, `${code}: ${reply.text.slice(0, 200)}`).to.equal(status);
  expect(fields(reply).error).to.equal(code);
}
