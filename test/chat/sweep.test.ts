import { expect } from 'chai';
import { Sweep, sweepTickMs } from '@securechat/chat';

/** Runs `ticks` ticks and records the tick numbers at which each item was visited. */
function visits<T>(sweep: Sweep<T>, ticks: number): Map<T, number[]> {
  const seen = new Map<T, number[]>();
  for (let t = 0; t < ticks; t++) {
    for (const item of sweep.next()) seen.set(item, [...(seen.get(item) ?? []), t]);
  }
  return seen;
}

describe('Sweep: periodic per-connection work spread over its period', () => {
  it('ticks about 25 times a period, between 10 ms and 1 s apart', () => {
    expect(sweepTickMs(25_000)).to.equal(1000);
    expect(sweepTickMs(20_000)).to.equal(800);
    expect(sweepTickMs(200)).to.equal(10);
    expect(sweepTickMs(60_000)).to.equal(1000);
  });

  it('visits every item once a period, a slice per tick, never all at once', () => {
    const items = new Set(Array.from({ length: 700 }, (_, i) => i));
    const sweep = new Sweep(() => items, 25_000); // 25 ticks a period: 28 items a tick
    const slices = Array.from({ length: 50 }, () => sweep.next().length);
    expect(slices).to.deep.equal(Array(50).fill(28));
    const seen = visits(sweep, 75);
    expect(seen.size).to.equal(700);
    for (const ticks of seen.values()) {
      expect(ticks.length).to.equal(3);
      expect(ticks[1]! - ticks[0]!).to.equal(25);
      expect(ticks[2]! - ticks[1]!).to.equal(25);
    }
  });

  it('visits a lone item once a period, not every other tick', () => {
    const items = new Set(['only']);
    const sweep = new Sweep(() => items, 25_000);
    expect(visits(sweep, 100).get('only')).to.deep.equal([24, 49, 74, 99]);
  });

  it('keeps the period for a collection that does not divide evenly', () => {
    const items = new Set(Array.from({ length: 7 }, (_, i) => i));
    const sweep = new Sweep(() => items, 25_000);
    const seen = visits(sweep, 250);
    for (const ticks of seen.values()) {
      expect(ticks.length).to.equal(10);
      for (let i = 1; i < ticks.length; i++) expect(ticks[i]! - ticks[i - 1]!).to.be.within(24, 26);
    }
  });

  it('sees items added during a pass and skips removed ones', () => {
    const items = new Set(['a', 'b', 'c', 'd']);
    const sweep = new Sweep(() => items, 100); // ticks of 10 ms: 0.4 visits a tick
    const first = visits(sweep, 3); // credit 0.4, 0.8, 1.2: one visit
    expect([...first.keys()]).to.deep.equal(['a']);
    items.delete('b');
    items.add('e');
    const rest = visits(sweep, 10);
    expect([...rest.keys()].slice(0, 3)).to.deep.equal(['c', 'd', 'e']);
  });

  it('never visits an item twice in one tick', () => {
    const items = new Set(['x', 'y']);
    const sweep = new Sweep(() => items, 10); // a tick longer than the period
    for (let t = 0; t < 5; t++) {
      const due = sweep.next();
      expect(new Set(due).size).to.equal(due.length);
    }
  });

  it('sweeps a Map by its entries and returns nothing for an empty collection', () => {
    const rooms = new Map<string, number>();
    const sweep = new Sweep(() => rooms, 250); // tick 10 ms
    expect(sweep.next()).to.deep.equal([]);
    rooms.set('lobby', 1);
    const seen = visits(sweep, 25);
    expect([...seen.keys()].map(([room]) => room)).to.deep.equal(['lobby']);
  });
});
