import fc from 'fast-check';

/**
 * What a fuzzing socket does, one step at a time: a text frame (a request of the protocol
 * with generated and mutated fields, any JSON, or any string), a binary frame, a text
 * frame that is not UTF-8, a frame over MAX_MESSAGE_BYTES, or it stops reading.
 */
export type Action =
  | { kind: 'text'; text: string }
  | { kind: 'binary'; bytes: Uint8Array }
  | { kind: 'bad_utf8' }
  | { kind: 'oversize' }
  | { kind: 'stop_reading' };

const ROOMS = [
  'lobby',
  'fuzz',
  'big',
  'a',
  'dm:alice:bob',
  'dm:bob:alice',
  'dm:a:a',
  'Lobby',
  '',
  'x'.repeat(65),
];

const room = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...ROOMS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 120 }) },
  { weight: 1, arbitrary: fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,8}$/) },
);

const messageId = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('0-0', '1-0', '999999999999999-9999999999') },
  { weight: 3, arbitrary: fc.tuple(fc.nat(), fc.nat()).map(([ms, seq]) => `${ms}-${seq}`) },
  { weight: 1, arbitrary: fc.constantFrom('9999999999999999-0', '-1', '1-', 'abc', '', '1-0 ') },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
);

const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 50 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 100 }) },
  { weight: 1, arbitrary: fc.constantFrom('', '"', '\\', '\u0000', '\n'.repeat(100), 'x'.repeat(20_000)) },
);

/** A field value of the wrong kind, for mutations. */
const wrong = fc.oneof(
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.nat(), { maxLength: 3 }),
  fc.object(),
);

const ref = fc.oneof(
  { weight: 6, arbitrary: fc.string({ minLength: 1, maxLength: 64 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 70 }) },
  { weight: 1, arbitrary: wrong },
);

function request(
  type: string,
  fields: Record<string, fc.Arbitrary<unknown>>,
): fc.Arbitrary<Record<string, unknown>> {
  const model: Record<string, fc.Arbitrary<unknown>> = { type: fc.constant(type), ...fields, ref };
  return fc.record(model, { requiredKeys: ['type', ...Object.keys(fields).slice(0, 1)] });
}

/** The requests of chat.v1, their fields generated, sometimes of the wrong kind. */
export function requests(tokens: readonly string[]): fc.Arbitrary<Record<string, unknown>> {
  const maybeWrong = <T>(a: fc.Arbitrary<T>) =>
    fc.oneof({ weight: 5, arbitrary: a }, { weight: 1, arbitrary: wrong });
  return fc.oneof(
    request('join', { room: maybeWrong(room), since: maybeWrong(messageId) }),
    request('leave', { room: maybeWrong(room) }),
    request('send', { room: maybeWrong(room), text: maybeWrong(text) }),
    request('dm', {
      to: maybeWrong(fc.constantFrom('alice', 'bob', 'ALICE', 'x', '', 'fz1')),
      text: maybeWrong(text),
    }),
    request('history', {
      room: maybeWrong(room),
      before: maybeWrong(messageId),
      limit: fc.oneof(fc.integer({ min: -5, max: 300 }), fc.double(), fc.constant(200), wrong),
    }),
    request('refresh_token', {
      token: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(...tokens) },
        { weight: 1, arbitrary: fc.string({ maxLength: 100 }) },
        { weight: 1, arbitrary: fc.constant('a.b.c') },
        { weight: 1, arbitrary: wrong },
      ),
    }),
    request('ping', {}),
    request('conversations', {}),
    request('read', { room: maybeWrong(room), id: maybeWrong(messageId) }),
    fc.record({ type: fc.oneof(fc.string({ maxLength: 20 }), wrong), room }),
  );
}

/** One step of a fuzzing socket. */
export function actions(tokens: readonly string[]): fc.Arbitrary<Action> {
  const frameText = fc.oneof(
    { weight: 8, arbitrary: requests(tokens).map((r) => JSON.stringify(r)) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 100 }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '{',
        '[]',
        'null',
        '"join"',
        '{"type":"join","room":"fuzz","__proto__":{"polluted":true}}',
        '{"type":"history","room":"big","limit":200,"constructor":{"prototype":{"x":1}}}',
        '{"type":"send","room":"fuzz","text":"x","type":"ping"}',
        `${'['.repeat(5000)}${']'.repeat(5000)}`,
      ),
    },
  );
  return fc.oneof(
    { weight: 150, arbitrary: frameText.map((t): Action => ({ kind: 'text', text: t })) },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 64 }).map((b): Action => ({ kind: 'binary', bytes: b })),
    },
    { weight: 1, arbitrary: fc.constant<Action>({ kind: 'bad_utf8' }) },
    { weight: 1, arbitrary: fc.constant<Action>({ kind: 'oversize' }) },
    { weight: 1, arbitrary: fc.constant<Action>({ kind: 'stop_reading' }) },
  );
}
