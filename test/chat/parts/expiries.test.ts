import { expect } from 'chai';
import { Expiries } from '@securechat/chat';
import { waitFor } from '../../support/wait';

describe('Expiries: many deadlines on one timer', () => {
  it('calls each item at its second plus the tolerance, earliest first, unless deleted', async () => {
    const due: string[] = [];
    const nowS = Math.floor(Date.now() / 1000);
    const expiries = new Expiries<string>(0, (item) => due.push(item));
    expiries.add('far', nowS + 3600);
    expiries.add('c', nowS - 1);
    expiries.add('a', nowS - 3);
    expiries.add('deleted', nowS - 2);
    expiries.add('b', nowS - 2);
    expiries.delete('deleted', nowS - 2);
    await waitFor(() => due.length === 3, { what: 'the items due' });
    expect(due).to.deep.equal(['a', 'b', 'c']);
    expect(expiries.size).to.equal(1, 'the far one waits');
    expiries.close();
    expect(expiries.size).to.equal(0);
  });

  it('waits for the tolerance, and keeps the order of many seconds', async () => {
    const due: number[] = [];
    const nowMs = Date.now();
    const nowS = Math.floor(nowMs / 1000);
    // Due 150 ms from now: the item's second plus a tolerance that reaches past now.
    const toleranceMs = nowMs - nowS * 1000 + 150;
    const expiries = new Expiries<number>(toleranceMs, (item) => due.push(item));
    const seconds = Array.from({ length: 200 }, (_, i) => nowS - ((i * 7919) % 200));
    for (const s of seconds) expiries.add(s, s);
    expect(due).to.deep.equal([]);
    await waitFor(() => due.length === seconds.length, { what: 'every item' });
    expect(Date.now()).to.be.at.least(nowMs + 150);
    expect(due).to.deep.equal([...seconds].sort((x, y) => x - y));
    expiries.close();
  });
});
