import { expect } from 'chai';
import { addressNetwork, clientAddress, normalizeAddress, parseTrustList } from '@securechat/common';

describe('clientAddress', () => {
  const none = parseTrustList('');
  const loopback = parseTrustList('127.0.0.1');

  it('with TRUST_PROXY unset, is the TCP peer whatever X-Forwarded-For says', () => {
    expect(clientAddress(none, '127.0.0.1', '203.0.113.7')).to.equal('127.0.0.1');
    expect(clientAddress(none, '198.51.100.4', '127.0.0.1')).to.equal('198.51.100.4');
    expect(clientAddress(none, '198.51.100.4', undefined)).to.equal('198.51.100.4');
  });

  it('believes X-Forwarded-For from a trusted proxy', () => {
    expect(clientAddress(loopback, '127.0.0.1', '203.0.113.7')).to.equal('203.0.113.7');
    expect(clientAddress(loopback, '127.0.0.1', ' 203.0.113.7 ')).to.equal('203.0.113.7');
    expect(clientAddress(loopback, '127.0.0.1', undefined)).to.equal('127.0.0.1');
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', () => {
    expect(clientAddress(loopback, '198.51.100.4', '203.0.113.7')).to.equal('198.51.100.4');
    expect(clientAddress(loopback, '127.0.0.2', '203.0.113.7')).to.equal('127.0.0.2');
  });

  it('takes the rightmost untrusted hop: what a client prepends is never believed', () => {
    // A client sends "X-Forwarded-For: 1.1.1.1"; a proxy that appends makes it this.
    expect(clientAddress(loopback, '127.0.0.1', '1.1.1.1, 203.0.113.9')).to.equal('203.0.113.9');
    expect(clientAddress(loopback, '127.0.0.1', ['9.9.9.9, 8.8.8.8', '203.0.113.9'])).to.equal('203.0.113.9');
  });

  it('skips hops that are themselves trusted proxies (CIDR ranges)', () => {
    const internal = parseTrustList('10.0.0.0/8, 192.168.1.0/24');
    expect(clientAddress(internal, '10.1.2.3', '1.1.1.1, 198.51.100.7, 192.168.1.20, 10.0.0.5')).to.equal(
      '198.51.100.7',
    );
    expect(clientAddress(internal, '192.168.1.99', '198.51.100.7')).to.equal('198.51.100.7');
    expect(clientAddress(internal, '192.168.2.1', '198.51.100.7')).to.equal('192.168.2.1');
    // every hop trusted: the peer is the best we know
    expect(clientAddress(internal, '10.1.2.3', '10.0.0.5')).to.equal('10.1.2.3');
  });

  it('treats IPv4-mapped IPv6 as IPv4, on the peer and in the header', () => {
    expect(clientAddress(loopback, '::ffff:127.0.0.1', '203.0.113.7')).to.equal('203.0.113.7');
    expect(clientAddress(loopback, '::ffff:127.0.0.1', '::ffff:203.0.113.7')).to.equal('203.0.113.7');
    expect(clientAddress(none, '::ffff:198.51.100.4', undefined)).to.equal('198.51.100.4');
    const mapped = parseTrustList('::ffff:10.0.0.0/104');
    expect(clientAddress(mapped, '10.2.3.4', '203.0.113.7')).to.equal('203.0.113.7');
  });

  it('handles IPv6 proxies and clients', () => {
    const v6 = parseTrustList('::1, fd00::/8');
    expect(clientAddress(v6, '::1', '2001:db8::1')).to.equal('2001:db8::1');
    expect(clientAddress(v6, 'fd12::3', '2001:db8::1, fd00::9')).to.equal('2001:db8::1');
    expect(clientAddress(v6, '2001:db8::5', '2001:db8::1')).to.equal('2001:db8::5');
  });

  it('falls back to the peer when the nearest untrusted hop is not an address', () => {
    expect(clientAddress(loopback, '127.0.0.1', 'evil')).to.equal('127.0.0.1');
    expect(clientAddress(loopback, '127.0.0.1', '203.0.113.7, <script>')).to.equal('127.0.0.1');
    expect(clientAddress(loopback, '127.0.0.1', '203.0.113.7:4444')).to.equal('127.0.0.1');
    expect(clientAddress(loopback, '127.0.0.1', '')).to.equal('127.0.0.1');
  });

  it('parses TRUST_PROXY lists and refuses what is not an address or CIDR', () => {
    expect(parseTrustList('127.0.0.1, ::1,10.0.0.0/8,').ranges).to.have.length(3);
    expect(() => parseTrustList('localhost')).to.throw(/not an address/);
    expect(() => parseTrustList('10.0.0.0/40')).to.throw(/not an address/);
  });

  it('normalizes addresses to one text per address', () => {
    expect(normalizeAddress('::ffff:1.2.3.4')).to.equal('1.2.3.4');
    expect(normalizeAddress('2001:0db8:0000::0001')).to.equal('2001:db8::1');
  });

  it('counts per network: an IPv4 address alone, an IPv6 address as its /64', () => {
    expect(addressNetwork('203.0.113.7')).to.equal('203.0.113.7');
    expect(addressNetwork('::ffff:203.0.113.7')).to.equal('203.0.113.7');
    expect(addressNetwork('2001:db8:1:2:3:4:5:6')).to.equal('2001:db8:1:2::/64');
    expect(addressNetwork('2001:0db8:0001:0002:ffff::1')).to.equal('2001:db8:1:2::/64');
    expect(addressNetwork('::1')).to.equal('::/64');
    expect(addressNetwork('unknown')).to.equal('unknown');
  });
});
