/**
 * createRateLimiter is a token bucket per key (a bidder, or an IP): `perSecond` tokens a second,
 * at most `burst` saved up. `take` is a Map lookup and some arithmetic, cheap enough for the
 * bid hot path; it lives in the process, so N api instances allow N times the rate in all
 * (a guard against runaway clients, not a global quota). Either setting 0 turns it off.
 */
export function createRateLimiter({ perSecond, burst, now = Date.now }: { perSecond: number; burst: number; now?: () => number }) {
	const off = perSecond <= 0 || burst <= 0
	const buckets = new Map<string, { tokens: number; at: number }>()
	const perMs = perSecond / 1000
	// A bucket idle long enough to be full again is the same as no bucket: drop it.
	const sweep = off
		? null
		: setInterval(() => {
				const t = now()
				for (const [key, b] of buckets) if (b.tokens + (t - b.at) * perMs >= burst) buckets.delete(key)
			}, 30_000)
	sweep?.unref()

	return {
		/** take spends one token: 0 when allowed, else the whole seconds to wait (for Retry-After). */
		take(key: string): number {
			if (off) return 0
			const t = now()
			let b = buckets.get(key)
			if (b === undefined) buckets.set(key, (b = { tokens: burst, at: t }))
			else {
				b.tokens = Math.min(burst, b.tokens + (t - b.at) * perMs)
				b.at = t
			}
			if (b.tokens >= 1) {
				b.tokens -= 1
				return 0
			}
			return Math.max(1, Math.ceil((1 - b.tokens) / perSecond))
		},
		close() {
			if (sweep) clearInterval(sweep)
		},
	}
}

export type RateLimiter = ReturnType<typeof createRateLimiter>
