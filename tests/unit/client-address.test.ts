import { describe, expect, test } from 'bun:test'
import { clientAddress, parseTrustProxy, TRUST_NO_PROXY, type TrustProxy } from '../../src/http/client-address.ts'
import { inRanges, parseCidr, parseIp } from '../../src/http/ip-ranges.ts'

const trust = (value: string): TrustProxy => {
	const parsed = parseTrustProxy(value)
	if ('problem' in parsed) throw new Error(parsed.problem)
	return parsed
}
/** The client address gavel sees for a request from `peer` carrying this X-Forwarded-For. */
const seen = (value: string, peer: string, forwarded?: string) =>
	clientAddress(
		new Request('http://gavel/auctions', { headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded } }),
		{ requestIP: () => ({ address: peer }) },
		trust(value),
	)

describe('IP addresses and ranges', () => {
	test('IPv4, IPv6 and IPv4-mapped IPv6 are one address space', () => {
		expect(parseIp('10.0.3.4')).toBe(parseIp('::ffff:10.0.3.4')!)
		expect(parseIp('::ffff:a00:304')).toBe(parseIp('10.0.3.4')!)
		expect(parseIp('2001:db8::1')).toBe(parseIp('2001:0db8:0:0:0:0:0:1')!)
		expect(parseIp('[::1]')).toBe(1n)
		expect(parseIp('fe80::1%eth0')).toBe(parseIp('fe80::1')!)
		for (const bad of ['10.0.0', '10.0.0.256', '010.0.0.1', '1:2:3:4:5:6:7:8:9', '1::2::3', 'gavel', '', '::ffff:1.2.3']) expect(parseIp(bad)).toBeNull()
	})

	test('CIDRs match the addresses inside them, IPv4 ones their mapped form too', () => {
		const ranges = ['10.0.0.0/16', 'fd00::/8', '192.168.1.7'].map((c) => parseCidr(c)!)
		expect(['10.0.255.1', '::ffff:10.0.0.9', 'fd12::3', '192.168.1.7'].map((a) => inRanges(a, ranges))).toEqual([true, true, true, true])
		expect(['10.1.0.1', '192.168.1.8', 'fe80::1', '2001:db8::1', 'unknown'].map((a) => inRanges(a, ranges))).toEqual([false, false, false, false, false])
		expect(inRanges('203.0.113.5', [parseCidr('0.0.0.0/0')!])).toBe(true)
		expect(inRanges('2001:db8::5', [parseCidr('0.0.0.0/0')!])).toBe(false)
		for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/x', 'vpc']) expect(parseCidr(bad)).toBeNull()
	})
})

describe('TRUST_PROXY', () => {
	test('false, true, a hop count or CIDRs; a bad entry is named', () => {
		expect(trust('false')).toEqual(TRUST_NO_PROXY)
		expect(trust('true')).toEqual({ kind: 'hops', hops: 1 })
		expect(trust('2')).toEqual({ kind: 'hops', hops: 2 })
		expect(trust(' 10.0.0.0/16 , fd00::/8 ')).toMatchObject({ kind: 'ranges' })
		const bad = parseTrustProxy('10.0.0.0/16,10.0.0.0/40')
		expect(bad).toEqual({ problem: expect.stringContaining('entry 2 of 2 is not a CIDR or an IP address (got "10.0.0.0/40")') })
		expect(parseTrustProxy('yes')).toEqual({ problem: expect.stringContaining('"yes"') })
	})

	test('off: the peer, whatever the header says', () => {
		expect(seen('false', '192.0.2.1', '198.51.100.7')).toBe('192.0.2.1')
	})

	test('a hop count: the Nth entry from the right; what the client wrote before it never counts', () => {
		expect(seen('true', '10.0.0.5', '203.0.113.1, 198.51.100.7')).toBe('198.51.100.7')
		expect(seen('1', '10.0.0.5', '198.51.100.7')).toBe('198.51.100.7')
		// Two proxies: a CDN appended the client, the ALB appended the CDN.
		expect(seen('2', '10.0.0.5', '6.6.6.6, 198.51.100.7, 192.0.2.50')).toBe('198.51.100.7')
		expect(seen('3', '10.0.0.5', '198.51.100.7')).toBe('198.51.100.7')
		expect(seen('2', '10.0.0.5')).toBe('10.0.0.5')
	})

	test('CIDRs: trusted hops are skipped from the right, and only when the peer is one of them', () => {
		const vpc = '10.0.0.0/16'
		expect(seen(vpc, '10.0.1.9', '6.6.6.6, 198.51.100.7')).toBe('198.51.100.7')
		expect(seen(vpc, '::ffff:10.0.1.9', '6.6.6.6, 198.51.100.7, 10.0.2.2')).toBe('198.51.100.7')
		expect(seen(`${vpc},2001:db8::/32`, '2001:db8::9', '2001:db8:1::4, 198.51.100.7, 2001:db8::1')).toBe('198.51.100.7')
		// A client that reaches gavel directly cannot name itself someone else.
		expect(seen(vpc, '198.51.100.7', '10.0.0.1, 6.6.6.6')).toBe('198.51.100.7')
		// Only proxies in the header: the leftmost, the first hop anyone saw.
		expect(seen(vpc, '10.0.1.9', '10.0.3.3, 10.0.2.2')).toBe('10.0.3.3')
		expect(seen(vpc, '10.0.1.9')).toBe('10.0.1.9')
	})
})
