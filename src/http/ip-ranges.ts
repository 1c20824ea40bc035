/**
 * IP addresses and CIDR ranges as 128-bit numbers, IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d),
 * so `10.0.0.0/16` matches a peer Bun reports as `::ffff:10.0.3.4` as well as `10.0.3.4`.
 */

export interface IpRange {
	/** The range's first address. */
	base: bigint
	/** Prefix length out of 128. */
	bits: number
}

const V4_MAPPED = 0xffffn << 32n
const ALL = (1n << 128n) - 1n

/** parseIp reads an IPv4 or IPv6 address (a zone like %eth0 and [brackets] are dropped); null if it is not one. */
export function parseIp(text: string): bigint | null {
	let t = text.trim()
	if (t.startsWith('[') && t.endsWith(']')) t = t.slice(1, -1)
	const zone = t.indexOf('%')
	if (zone >= 0) t = t.slice(0, zone)
	const v4 = parseIpv4(t)
	if (v4 !== null) return V4_MAPPED | v4
	return parseIpv6(t)
}

function parseIpv4(t: string): bigint | null {
	const parts = t.split('.')
	if (parts.length !== 4) return null
	let value = 0n
	for (const part of parts) {
		// No leading zeros: 010 is octal to some parsers and decimal to others.
		if (!/^(0|[1-9]\d{0,2})$/.test(part) || Number(part) > 255) return null
		value = (value << 8n) | BigInt(part)
	}
	return value
}

function parseIpv6(t: string): bigint | null {
	if (!t.includes(':')) return null
	const halves = t.split('::')
	if (halves.length > 2) return null
	const groups = (half: string): bigint[] | null => {
		if (half === '') return []
		const out: bigint[] = []
		const parts = half.split(':')
		for (const [i, part] of parts.entries()) {
			// The last part may be an embedded IPv4 address (::ffff:1.2.3.4), worth two groups.
			if (i === parts.length - 1 && part.includes('.')) {
				const v4 = parseIpv4(part)
				if (v4 === null) return null
				out.push(v4 >> 16n, v4 & 0xffffn)
			} else if (/^[0-9a-fA-F]{1,4}$/.test(part)) out.push(BigInt(`0x${part}`))
			else return null
		}
		return out
	}
	const head = groups(halves[0]!)
	const tail = halves.length === 2 ? groups(halves[1]!) : []
	if (head === null || tail === null) return null
	const missing = 8 - head.length - tail.length
	if (halves.length === 2 ? missing < 1 : missing !== 0) return null
	let value = 0n
	for (const g of [...head, ...Array<bigint>(missing).fill(0n), ...tail]) value = (value << 16n) | g
	return value
}

/** parseCidr reads `10.0.0.0/16`, `fd00::/8` or a single address (a /32 or /128); null if it is neither. */
export function parseCidr(text: string): IpRange | null {
	const slash = text.indexOf('/')
	const address = slash < 0 ? text : text.slice(0, slash)
	const ip = parseIp(address)
	if (ip === null) return null
	const v4 = parseIpv4(address.trim()) !== null
	const max = v4 ? 32 : 128
	let bits = max
	if (slash >= 0) {
		const prefix = text.slice(slash + 1).trim()
		if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return null
		bits = Number(prefix)
	}
	bits += v4 ? 96 : 0
	return { base: ip & maskOf(bits), bits }
}

const maskOf = (bits: number) => (ALL >> BigInt(128 - bits)) << BigInt(128 - bits)

/** inRanges is whether an address (as parseIp reads it) lies in any of the ranges. */
export function inRanges(address: string, ranges: readonly IpRange[]): boolean {
	const ip = parseIp(address)
	if (ip === null) return false
	return ranges.some((r) => (ip & maskOf(r.bits)) === r.base)
}
