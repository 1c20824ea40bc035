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

/**
 * The store's epoch, written last by a rebuild (docs/design.md §6): a Redis that restarted empty
 * or was flushed has none, which is how a running gavel finds out that it must rebuild.
 */
export const epochKey = (prefix: string) => `${prefix}:epoch`

/** Auctions by scheduled end (score = endsAt), read by closers; the close script re-checks the real end. */
export const dueKey = (prefix: string) => `${prefix}:due`

/**
 * The listing by status (docs/decisions.md "Listing"): one lex-ordered set per status (members
 * `<createdAt>|<id>` as in the index), `starts` (scheduled members by startsAt) and `ends`
 * (members not closed, by their end as last seen), which find the changes of status that
 * happen with no write, and `indexed` (set once auctions from before these sets are in them).
 * The `{#listing}` hash tag, which no auction id can be, keeps them together on a slot of their own:
 * one script or MULTI may touch them all, and none of an auction's keys.
 */
export function listingKeys(prefix: string) {
	const base = `${prefix}:{#listing}`
	return {
		scheduled: `${base}:scheduled`,
		open: `${base}:open`,
		closed: `${base}:closed`,
		starts: `${base}:starts`,
		ends: `${base}:ends`,
		indexed: `${base}:indexed`,
	}
}
