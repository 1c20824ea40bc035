/**
 * Redis keys of one auction carry its id as a hash tag (`{id}`) so Redis Cluster keeps the
 * state, the event stream and the idempotency keys on one slot and a script may touch them all.
 */
export function auctionKeys(prefix: string, id: string) {
	const base = `${prefix}:{${id}}`
	return {
		state: base,
		events: `${base}:events`,
		/**
		 * One bidder's idempotency records on this auction: `answers` (a hash, Idempotency-Key →
		 * compact answer) and `order` (a sorted set of the keys by insertion, to evict the oldest).
		 * The bidder is the whole tail, so no two bidders share a key; the `idem-` names never meet
		 * the per-key `idem:` records of earlier versions (left to expire).
		 */
		idempotency: (bidder: string) => ({ answers: `${base}:idem-answers:${bidder}`, order: `${base}:idem-order:${bidder}` }),
		/** Placeholder for KEYS[3] and KEYS[4] when there is no Idempotency-Key: same slot, never written. */
		noIdempotency: `${base}:idem-none`,
	}
}

/** The newest-first index of all auctions (its own slot: listing is not on the bid path). */
export const indexKey = (prefix: string) => `${prefix}:auctions`

/** Auctions by scheduled end (score = endsAt), read by closers; the close script re-checks the real end. */
export const dueKey = (prefix: string) => `${prefix}:due`
