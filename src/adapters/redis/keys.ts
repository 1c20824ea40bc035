/**
 * Redis keys of one auction carry its id as a hash tag (`{id}`) so Redis Cluster keeps the
 * state, the event stream and the idempotency keys on one slot and a script may touch them all.
 */
export function auctionKeys(prefix: string, id: string) {
	const base = `${prefix}:{${id}}`
	return {
		state: base,
		events: `${base}:events`,
		/** Length-prefixed so `a:b` + `c` and `a` + `b:c` never share a key. */
		idempotency: (bidder: string, key: string) => `${base}:idem:${bidder.length}:${bidder}:${key}`,
		/** Placeholder for KEYS[3] when there is no Idempotency-Key: same slot, never written. */
		noIdempotency: `${base}:idem:-`,
	}
}

/** The newest-first index of all auctions (its own slot: listing is not on the bid path). */
export const indexKey = (prefix: string) => `${prefix}:auctions`

/** Auctions by scheduled end (score = endsAt), read by closers; the close script re-checks the real end. */
export const dueKey = (prefix: string) => `${prefix}:due`
