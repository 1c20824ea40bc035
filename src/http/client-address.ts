import { inRanges, parseCidr, type IpRange } from './ip-ranges.ts'

/** What clientAddress needs of the server: Bun's peer address of a request. */
export interface RequestIPSource {
	requestIP(request: Request): { address: string } | null
}

/**
 * Which hops in front of gavel are trusted to say who the client is (TRUST_PROXY): none, a count
 * of proxies each appending its peer to X-Forwarded-For, or the proxies' address ranges.
 */
export type TrustProxy = { kind: 'none' } | { kind: 'hops'; hops: number } | { kind: 'ranges'; ranges: readonly IpRange[]; text: string }

export const TRUST_NO_PROXY: TrustProxy = Object.freeze({ kind: 'none' })

/**
 * parseTrustProxy reads TRUST_PROXY: `false`, `true` (one hop), a hop count, or comma-separated
 * CIDRs (or single addresses). A bad entry is named in the problem.
 */
export function parseTrustProxy(value: string): TrustProxy | { problem: string } {
	const text = value.trim()
	if (text === 'false' || text === '0') return TRUST_NO_PROXY
	if (text === 'true') return { kind: 'hops', hops: 1 }
	if (/^\d+$/.test(text)) {
		const hops = Number(text)
		return hops <= 100 ? { kind: 'hops', hops } : { problem: `a hop count is at most 100 (got ${JSON.stringify(value)})` }
	}
	const entries = text.split(',').map((e) => e.trim())
	const ranges: IpRange[] = []
	for (const [i, entry] of entries.entries()) {
		const range = parseCidr(entry)
		if (range === null)
			return {
				problem: `entry ${i + 1} of ${entries.length} is not a CIDR or an IP address (got ${JSON.stringify(entry)}); expected false, true, a hop count or CIDRs like 10.0.0.0/16,fd00::/8`,
			}
		ranges.push(range)
	}
	return { kind: 'ranges', ranges, text }
}

/**
 * clientAddress is the address a request counts against for per-client limits (the IP rate
 * limit, WebSockets per address). X-Forwarded-For is read from the right, only as far as trusted
 * hops wrote it: earlier entries are the client's to invent.
 * - hops N: the Nth entry from the right (the one the first of N proxies appended); with fewer
 *   entries, the leftmost.
 * - ranges: only when the peer itself is in a trusted range; entries in trusted ranges are
 *   proxies and skipped, the first one outside them is the client (all trusted: the leftmost).
 */
export function clientAddress(request: Request, server: RequestIPSource | null, trust: TrustProxy): string {
	const peer = server?.requestIP(request)?.address ?? 'unknown'
	if (trust.kind === 'none') return peer
	if (trust.kind === 'ranges' && !inRanges(peer, trust.ranges)) return peer
	const forwarded = request.headers.get('x-forwarded-for')
	if (!forwarded) return peer
	const entries = forwarded.split(',').map((e) => e.trim())
	if (trust.kind === 'hops') {
		if (trust.hops === 0) return peer
		return entries[Math.max(0, entries.length - trust.hops)] || peer
	}
	for (let i = entries.length - 1; i >= 0; i--) if (!inRanges(entries[i]!, trust.ranges)) return entries[i] || peer
	return entries[0] || peer
}
