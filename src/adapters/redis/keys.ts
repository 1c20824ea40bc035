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

/**
 * The store's epoch, written last by a rebuild (docs/design.md §6): a Redis that restarted empty
 * or was flushed has none, which is how a running gavel finds out that it must rebuild.
 */
export const epochKey = (prefix: string) => `${prefix}:epoch`

/**
 * The catalog (docs/decisions.md "Listing"): every key that is about all auctions rather than one,
 * under the `{#listing}` hash tag, which no auction id can be, so Redis Cluster keeps them on one
 * slot of their own and one script (catalog.lua) or MULTI may touch them all, and none of an
 * auction's keys. No command ever touches keys of two slots.
 * - `index`: all auctions newest first (members `<createdAt>|<id>`, score 0, read BYLEX);
 * - `due`: the closers' schedule, auction ids by scheduled end (the close script re-checks the real end);
 * - `scheduled`, `open`, `closed`: the listing by status (the same members as `index`);
 * - `starts` (scheduled members by startsAt) and `ends` (members not closed, by their end as last
 *   seen), which find the changes of status that happen with no write;
 * - `indexed`: set once auctions from before the status sets are in them.
 */
export function catalogKeys(prefix: string) {
	const base = `${prefix}:{#listing}`
	return {
		index: `${base}:index`,
		due: `${base}:due`,
		scheduled: `${base}:scheduled`,
		open: `${base}:open`,
		closed: `${base}:closed`,
		starts: `${base}:starts`,
		ends: `${base}:ends`,
		indexed: `${base}:indexed`,
	}
}

/**
 * The index and schedule of versions before the catalog: single keys outside its slot, which a
 * Redis Cluster could not combine with anything. A store that still has them is moved over once.
 */
export const legacyCatalogKeys = (prefix: string) => ({ index: `${prefix}:auctions`, due: `${prefix}:due` })
