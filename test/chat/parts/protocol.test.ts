import { expect } from 'chai';
import fc from 'fast-check';
import { ackFrame, frame, parseClientMessage } from '@securechat/chat';

/** Strings with what JSON and lengths make interesting: quotes, escapes, astral and lone surrogates. */
const text = (maxLength: number) =>
  fc.oneof(
    fc.string({ maxLength }),
    fc.string({ unit: 'grapheme', maxLength }),
    fc.string({ unit: fc.constantFrom('"', '\\', '\n', '\u2028', '\ud800', '😀', 'a'), maxLength }),
  );

describe('parseClientMessage', () => {
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
