import { expect } from 'chai';
import { presenceFrame } from '@securechat/common';
import { dispatchRoomPayload, messagePayload, presencePayload } from '@securechat/state';

type Delivered = { room: string; id: string | undefined; frame: string };

function dispatch(payload: string | Buffer): Delivered[] {
  const out: Delivered[] = [];
  dispatchRoomPayload('lobby', Buffer.isBuffer(payload) ? payload : Buffer.from(payload), (room, id, frame) =>
    out.push({ room, id, frame: frame.toString() }),
  );
  return out;
}

describe("a room channel's payloads", () => {
  it('passes a message frame on as the bytes that came, with its id', () => {
    const frame = '{"type":"message","room":"lobby","id":"5-0","from":"ann","text":"é\\n","ts":1}';
    const payload = Buffer.from(messagePayload('5-0', frame));
    let got: Buffer | undefined;
    dispatchRoomPayload('lobby', payload, (_room, id, bytes) => {
      expect(id).to.equal('5-0');
      got = bytes;
    });
    expect(got?.toString()).to.equal(frame);
    // no copy: the node writes the bytes the broker received
    expect(got?.buffer).to.equal(payload.buffer);
  });

  it('builds the presence frame from a presence event, once per payload', () => {
    expect(presencePayload('ann', 'online')).to.equal('online ann');
    expect(dispatch(presencePayload('ann', 'online'))).to.deep.equal([
      { room: 'lobby', id: undefined, frame: presenceFrame('lobby', 'ann', 'online') },
    ]);
    expect(dispatch('offline b.o-b_')).to.deep.equal([
      { room: 'lobby', id: undefined, frame: presenceFrame('lobby', 'b.o-b_', 'offline') },
    ]);
    expect(JSON.parse(dispatch('offline ann')[0]?.frame ?? '')).to.deep.equal({
      type: 'presence',
      room: 'lobby',
      user: 'ann',
      state: 'offline',
    });
  });

  it("has no newline in a presence event, so that an older node's `<id>\\n<frame>` reader drops it", () => {
    expect(presencePayload('ann', 'offline')).not.to.include('\n');
  });

  it("passes on an older node's presence frame (`-\\n<frame>`) during a rolling upgrade", () => {
    const frame = presenceFrame('lobby', 'ann', 'online');
    expect(dispatch(`-\n${frame}`)).to.deep.equal([{ room: 'lobby', id: undefined, frame }]);
  });

  it('drops anything else', () => {
    for (const bad of ['', 'online', 'online ', 'away ann', 'online Ann', 'online a"b', 'online ann extra']) {
      expect(dispatch(bad), JSON.stringify(bad)).to.deep.equal([]);
    }
  });
});
