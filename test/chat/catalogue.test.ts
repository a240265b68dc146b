/**
 * The protocol's catalogues against their reference docs, the way fastify checks its
 * error codes against its docs: every close, error code and handshake refusal the server
 * can send (the typed catalogues in services/chat/src/codes.ts, the only values the code
 * can send) is documented in docs/PROTOCOL.md with the same code, reason and client
 * action, nothing documented is missing from them, and the SDK (which ships alone and
 * keeps its own copy) decides what the docs say for every row.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLOSE, ERROR_CODES, HANDSHAKE, type ClientAction } from '@securechat/chat';
import { closeAction, handshakeAction, SERVER_ERROR_CODES } from '@securechat/sdk';
import { ROOT } from '../support/processes';

const PROTOCOL = readFileSync(join(ROOT, 'docs', 'PROTOCOL.md'), 'utf8');

function cells(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split('|')
    .map((cell) => cell.trim());
}

/** The body rows of the one markdown table whose header row is exactly `header`. */
function table(header: readonly string[]): string[][] {
  const lines = PROTOCOL.split('\n');
  const found: string[][][] = [];
  lines.forEach((line, i) => {
    if (!line.startsWith('|') || cells(line).join('|') !== header.join('|')) return;
    if (!/^\|\s*-/.test(lines[i + 1] ?? '')) return;
    const rows: string[][] = [];
    for (let j = i + 2; lines[j]?.startsWith('|') === true; j++) rows.push(cells(lines[j] as string));
    found.push(rows);
  });
  expect(found, `one table headed | ${header.join(' | ')} | in docs/PROTOCOL.md`).to.have.length(1);
  const rows = found[0] as string[][];
  for (const row of rows)
    expect(row, `a row of ${row.length} cells: ${row.join(' | ')}`).to.have.length(header.length);
  return rows;
}

/** `token_expired` -> token_expired; an empty cell stays empty. */
function unquoted(cell: string): string {
  return cell.replace(/^`(.*)`$/, '$1');
}

const ACTIONS: readonly [RegExp, ClientAction][] = [
  [/^stop\b/, 'stop'],
  [/^reconnect soon\b/, 'reconnect_soon'],
  [/^reconnect with backoff\b/, 'reconnect_backoff'],
];

/** The action a "what the client should do" cell begins with. */
function actionOf(cell: string): ClientAction {
  const action = ACTIONS.find(([pattern]) => pattern.test(cell))?.[1];
  if (action === undefined) {
    throw new Error(`"${cell}" does not begin with "stop", "reconnect soon" or "reconnect with backoff"`);
  }
  return action;
}

/** Close codes reserved by RFC 6455 (7.4.1) for what a peer sees without a close frame. */
const NOT_ON_THE_WIRE = new Set([1005, 1006, 1015]);

describe('the protocol catalogues against docs/PROTOCOL.md, and the SDK against both', () => {
  const closes = table(['code', 'reason', 'when', 'what the client should do']).map(
    ([code, reason, , todo]) => ({
      code: Number(code),
      reason: unquoted(reason as string),
      frame: reason !== '(no close frame)',
      action: actionOf(todo as string),
    }),
  );
  const refusals = table(['#', 'check', 'status', '`error`', 'what the client should do']).map(
    ([, , status, error, todo]) => ({
      status: Number(/^\d{3}/.exec(status as string)?.[0]),
      error: unquoted(error as string),
      action: actionOf(todo as string),
    }),
  );
  const errors = table(['`code`', 'when (message text)', 'what to do']).map(([code]) =>
    unquoted(code as string),
  );

  it('documents every close the server sends, with its code, reason and action, and no other', () => {
    const line = (c: { code: number; reason: string; action: ClientAction }) =>
      `${c.code} "${c.reason}" ${c.action}`;
    const documented = closes.filter((c) => c.frame).map(line);
    const catalogued = Object.values(CLOSE).map((c) => line({ ...c, action: c.client }));
    expect(new Set(catalogued).size, 'catalogue entries are distinct').to.equal(catalogued.length);
    expect([...documented].sort()).to.deep.equal([...catalogued].sort());
  });

  it('documents closes without a close frame only for codes that never appear on the wire', () => {
    const frameless = closes.filter((c) => !c.frame);
    expect(frameless.map((c) => c.code)).to.deep.equal([1006]);
    for (const c of frameless) {
      expect(NOT_ON_THE_WIRE.has(c.code), `${c.code}`).to.equal(true);
      expect(Object.values(CLOSE).some((k) => k.code === c.code)).to.equal(false);
    }
  });

  it("makes the SDK's closeAction what the docs say for every close", () => {
    expect(closes.length).to.be.above(5);
    for (const c of closes) {
      expect(closeAction(c.code, c.reason), `${c.code} ${c.reason}`).to.equal(c.action);
    }
  });

  it('documents every handshake refusal with its status, error and action, and no other', () => {
    const line = (r: { status: number; error: string; action: ClientAction }) =>
      `${r.status} ${r.error} ${r.action}`;
    const documented = new Set(refusals.map(line));
    const catalogued = new Set(Object.values(HANDSHAKE).map((r) => line({ ...r, action: r.client })));
    expect([...documented].sort()).to.deep.equal([...catalogued].sort());
  });

  it("makes the SDK's handshakeAction, which sees only the status, what the docs say for every refusal", () => {
    expect(refusals.length).to.be.above(10);
    for (const r of refusals) {
      expect(handshakeAction(r.status), `${r.status} ${r.error}`).to.equal(r.action);
    }
  });

  it('documents every error code of the catalogue and no other, and the SDK knows the same ones', () => {
    expect([...errors].sort()).to.deep.equal(Object.keys(ERROR_CODES).sort());
    expect([...SERVER_ERROR_CODES].sort()).to.deep.equal(Object.keys(ERROR_CODES).sort());
  });
});
