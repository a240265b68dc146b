import { expect } from 'chai';
import {
  dmRoomName,
  dmRoomUsers,
  isRoom,
  isRoomName,
  isUsername,
  normalizeUsername,
  USERNAME_PATTERN,
} from '@securechat/common';

describe('naming rules', () => {
  it('accepts 3-32 of [A-Za-z0-9_.-] as a username, case-insensitively', () => {
    for (const name of ['abc', 'A.b-C_9', 'x'.repeat(32), '...']) {
      expect(USERNAME_PATTERN.test(name), name).to.equal(true);
      expect(normalizeUsername(name)).to.equal(name.toLowerCase());
    }
    for (const name of ['ab', 'x'.repeat(33), 'has space', 'é-name', 'a:b', 'a|b', 'a*b', '', 'abc\n']) {
      expect(normalizeUsername(name), JSON.stringify(name)).to.equal(undefined);
    }
  });

  it('knows a normalized username (a token sub, a stored name) by its lower case', () => {
    expect(isUsername('alice')).to.equal(true);
    expect(isUsername('Alice')).to.equal(false);
    expect(isUsername('al')).to.equal(false);
  });

  it('names rooms and DM rooms', () => {
    expect(isRoomName('lobby')).to.equal(true);
    expect(isRoomName('a'.repeat(64))).to.equal(true);
    for (const room of ['', '-x', 'Lobby', 'a'.repeat(65), 'a.b', 'dm:ann:bob']) {
      expect(isRoomName(room), room).to.equal(false);
    }
    expect(dmRoomName('bob', 'ann')).to.equal('dm:ann:bob');
    expect(dmRoomName('ann', 'bob')).to.equal('dm:ann:bob');
    expect(dmRoomName('ann', 'ann')).to.equal(undefined);
    expect(dmRoomName('ann', 'Bob')).to.equal(undefined);
    expect(dmRoomUsers('dm:ann:bob')).to.deep.equal(['ann', 'bob']);
    // the form is read as written; whether it exists is isRoom's question
    expect(dmRoomUsers('dm:bob:ann')).to.deep.equal(['bob', 'ann']);
    for (const room of ['dm:ann', 'dm:ann:bob:cat', 'dm:an:bob', 'dm:Ann:bob', 'xx:ann:bob', 'lobby']) {
      expect(dmRoomUsers(room), room).to.equal(undefined);
    }
    expect(isRoom('lobby')).to.equal(true);
    expect(isRoom('dm:ann:bob')).to.equal(true);
    expect(isRoom('dm:bob:ann')).to.equal(false);
    expect(isRoom('dm:ann:ann')).to.equal(false);
  });
});
