import { expect } from 'chai';
import { decodeStamp, encodeStamp, OpenLoopSchedule } from '@securechat/bench';

describe('bench open-loop schedule', () => {
  it('spaces messages evenly at the rate and hands them to publishers in turn', () => {
    const s = new OpenLoopSchedule(1000, 2000, 100, 4);
    const due = s.takeDue(1999.9);
    expect(due).to.have.length(100);
    expect(due[0]).to.deep.equal({ publisher: 0, intendedAt: 1000 });
    expect(due[5]).to.deep.equal({ publisher: 1, intendedAt: 1050 });
    expect(due.slice(0, 8).map((d) => d.publisher)).to.deep.equal([0, 1, 2, 3, 0, 1, 2, 3]);
    expect(s.nextDueAt()).to.equal(undefined);
    expect(s.takeDue(5000)).to.deep.equal([]);
  });

  it('gives nothing before the start and one message at it', () => {
    const s = new OpenLoopSchedule(1000, 2000, 10, 1);
    expect(s.takeDue(999)).to.deep.equal([]);
    expect(s.nextDueAt()).to.equal(1000);
    expect(s.takeDue(1000)).to.deep.equal([{ publisher: 0, intendedAt: 1000 }]);
    expect(s.nextDueAt()).to.equal(1100);
  });

  it('keeps the intended times of messages a stalled sender took late (coordinated omission)', () => {
    const s = new OpenLoopSchedule(0, 10_000, 1000, 10);
    expect(s.takeDue(0)).to.have.length(1);
    const late = s.takeDue(250);
    expect(late).to.have.length(250);
    expect(late[0]?.intendedAt).to.equal(1);
    expect(late[249]?.intendedAt).to.equal(250);
  });

  it('refuses a zero rate', () => {
    expect(() => new OpenLoopSchedule(0, 1, 0, 1)).to.throw();
  });

  it('stamps a message with its step and intended time, to the microsecond', () => {
    const t = 1_763_900_000_123.457;
    const stamp = decodeStamp(encodeStamp(3, t));
    expect(stamp?.step).to.equal(3);
    expect(stamp?.intendedAt).to.be.closeTo(t, 0.001);
    expect(decodeStamp('junk')).to.equal(undefined);
    expect(decodeStamp(42)).to.equal(undefined);
    expect(decodeStamp(':5')).to.equal(undefined);
  });
});
