import { expect } from 'chai';
import fc from 'fast-check';
import { ackFrame, frame, parseClientMessage, parseWithSchema } from '@securechat/chat';

/** Strings with what JSON and lengths make interesting: quotes, escapes, astral and lone surrogates. */
const text = (maxLength: number) =>
  fc.oneof(
    fc.string({ maxLength }),
    fc.string({ unit: 'grapheme', maxLength }),
    fc.string({ unit: fc.constantFrom('"', '\\', '\n', '\u2028', '\ud800', '😀', 'a'), maxLength }),
  );

/** A JSON value that may be what a field should hold, or not. */
const anyValue = fc.oneof(
  text(120),
  fc.integer(),
  fc.constant(null),
  fc.boolean(),
  fc.array(fc.integer(), { maxLength: 2 }),
);

describe('parseClientMessage', () => {
  it('takes a send by hand exactly as the schema does: same result, same keys, same reasons', () => {
    const sendLike = fc.record(
      {
        type: fc.constantFrom('send', 'dm', 'join', 'ping', 'Send', 'send '),
        room: fc.oneof(text(101), anyValue),
        text: fc.oneof(text(3), anyValue),
        ref: fc.oneof(text(65), anyValue),
        to: text(3),
        extra: anyValue,
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(sendLike, fc.boolean(), (fields, protoKey) => {
        // A `__proto__` key as JSON text makes it (an own property of JSON.parse's result).
        const json = JSON.stringify(fields);
        const source = protoKey
          ? json.replace(/^\{/, json === '{}' ? '{"__proto__":{"room":"x"}' : '{"__proto__":{"room":"x"},')
          : json;
        const actual = parseClientMessage(source);
        const expected = parseWithSchema(JSON.parse(source) as object);
        expect(actual).to.deep.equal(expected);
        if (actual.ok && expected.ok) {
          expect(Object.keys(actual.message)).to.deep.equal(Object.keys(expected.message));
          expect(Object.getPrototypeOf(actual.message)).to.equal(Object.prototype);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('still refuses what is not a JSON object', () => {
    expect(parseClientMessage('nope')).to.deep.equal({ ok: false, ref: undefined, reason: 'not JSON' });
    expect(parseClientMessage('["send"]')).to.deep.include({ ok: false, reason: 'not a JSON object' });
  });
});

describe('ackFrame', () => {
  it('writes the bytes frame() writes for the same ack', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^\d{1,15}-\d{1,10}$/),
        text(100),
        fc.option(text(64), { nil: undefined }),
        (id, room, ref) => {
          const body = { type: 'ack', id, room };
          expect(ackFrame(id, room, ref)).to.equal(frame(ref === undefined ? body : { ...body, ref }));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
