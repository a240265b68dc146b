import { expect } from 'chai';
import { compareMessageIds, isMessageId, parseMessageId, RoomCursors } from '@securechat/sdk';

describe('sdk message ids', () => {
  it('orders stream ids numerically by both parts, never as strings', () => {
    expect(compareMessageIds('10-0', '9-0')).to.be.greaterThan(0);
    expect(compareMessageIds('5-10', '5-9')).to.be.greaterThan(0);
    expect(compareMessageIds('5-9', '5-10')).to.be.lessThan(0);
    expect(compareMessageIds('1700000000000-3', '1700000000001-0')).to.be.lessThan(0);
    expect(compareMessageIds('007-1', '7-01')).to.equal(0);
    expect(compareMessageIds('7', '7-0')).to.equal(0);
  });

  it('keeps precision past 2^53', () => {
    expect(compareMessageIds('1-18446744073709551615', '1-18446744073709551614')).to.be.greaterThan(0);
    expect(compareMessageIds('9007199254740993-0', '9007199254740992-0')).to.be.greaterThan(0);
  });

  it('refuses to order what is not a stream id', () => {
    for (const bad of ['', 'abc', '1-2-3', '-1', '1-', ' 1-2', '1.5-0']) {
      expect(isMessageId(bad), bad).to.equal(false);
      expect(parseMessageId(bad), bad).to.equal(undefined);
      expect(() => compareMessageIds(bad, '1-0'), bad).to.throw(TypeError);
    }
  });

  it('drops ids at or before the room cursor and nothing else', () => {
    const cursors = new RoomCursors();
    expect(cursors.accept('a', '5-9')).to.equal(true);
    expect(cursors.accept('a', '5-10')).to.equal(true);
    expect(cursors.accept('a', '5-9')).to.equal(false);
    expect(cursors.accept('a', '5-10')).to.equal(false);
    expect(cursors.accept('b', '5-9'), 'rooms are independent').to.equal(true);
    expect(cursors.get('a')).to.equal('5-10');
    cursors.set('a', '5-2');
    expect(cursors.accept('a', '5-3'), 'an explicit since moves the cursor back').to.equal(true);
    expect(cursors.accept('a', 'not-an-id'), 'unorderable ids pass').to.equal(true);
    expect(cursors.get('a')).to.equal('5-3');
  });
});
