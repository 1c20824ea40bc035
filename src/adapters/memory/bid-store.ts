import { settingsOf, toView, type AuctionRecord, type AuctionView } from '../../domain/auction.ts'
import { decodeCursor, encodeCursor, listKey } from '../../domain/listing.ts'
import { applyBid, closeAuction, refuseEntry, type Refusal } from '../../domain/rules.ts'
import { newEventId } from '../../events.ts'
import { DEFAULT_EVENTS_KEPT, DEFAULT_IDEMPOTENCY_KEYS_PER_BIDDER, DEFAULT_IDEMPOTENCY_TTL_MS } from '../../config.ts'
import type { BidStore, CloseResult, EventsSince, ListQuery, PlaceBidRequest, PlacedBid } from '../../ports/bid-store.ts'
import { refusalError, idempotencyFingerprint } from '../bid-refusals.ts'
import { ExistsError, IdempotencyKeyReusedError, NotFoundError } from '../../errors.ts'

export interface MemoryBidStoreOptions {
	eventsKept?: number
	idempotencyTtlMs?: number
	/** Idempotency records one bidder keeps per auction; past it the oldest is forgotten. */
	idempotencyKeysPerBidder?: number
	now?: () => number
}

interface Kept {
	record: AuctionRecord
	/** Recent events as JSON, oldest first; `firstSeq` is the seq of events[0]. */
	events: string[]
	firstSeq: number
}

/** The live part of a view: with the auction's settings (kept once, in its record) it is the view. */
type LiveState = Pick<AuctionView, 'endsAt' | 'status' | 'price' | 'leader' | 'bidCount' | 'seq' | 'reserveMet' | 'winner'>

/** What a replay needs (as the Redis store keeps it): not the answer, only what it is built from. */
interface Remembered {
	at: number
	fingerprint: string
	/** The bid.placed event's JSON, the very string the event window holds, or null. */
	bid: string | null
	live: LiveState
	leading: boolean
}

/** The 201 body; a first answer and its replays both come from here, so they are the same bytes. */
const answerJson = (record: AuctionRecord, r: Pick<Remembered, 'bid' | 'live' | 'leading'>): string =>
	`{"bid":${r.bid ?? 'null'},"auction":${JSON.stringify({ ...settingsOf(record), ...r.live })},"leading":${r.leading}}`

/**
 * createMemoryBidStore is the embedded BidStore: one process, no services. JavaScript runs one
 * task at a time, so each placeBid is atomic without locks, as the Lua script is in Redis.
 */
export function createMemoryBidStore(options: MemoryBidStoreOptions = {}) {
	const eventsKept = options.eventsKept ?? DEFAULT_EVENTS_KEPT
	const idempotencyTtlMs = options.idempotencyTtlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS
	const keysPerBidder = options.idempotencyKeysPerBidder ?? DEFAULT_IDEMPOTENCY_KEYS_PER_BIDDER
	const now = options.now ?? Date.now
	const auctions = new Map<string, Kept>()
	const sortedKeys: string[] = [] // ascending list keys
	// `<auction>\n<bidder>` → Idempotency-Key → record; a Map iterates oldest first, which eviction uses.
	const idempotency = new Map<string, Map<string, Remembered>>()
	const sweep = setInterval(() => {
		const t = now()
		for (const [bucketKey, bucket] of idempotency) {
			for (const [key, entry] of bucket) if (t - entry.at >= idempotencyTtlMs) bucket.delete(key)
			if (bucket.size === 0) idempotency.delete(bucketKey)
		}
	}, 60_000)
	sweep.unref()

	const remember = (bucketKey: string, key: string, entry: Remembered) => {
		let bucket = idempotency.get(bucketKey)
		if (!bucket) idempotency.set(bucketKey, (bucket = new Map()))
		bucket.delete(key) // an expired key used again counts as the newest
		bucket.set(key, entry)
		for (const oldest of bucket.keys()) {
			if (bucket.size <= keysPerBidder) break
			bucket.delete(oldest)
		}
	}

	const append = (kept: Kept, events: string[]) => {
		kept.events.push(...events)
		// Trim in chunks so a busy auction does not shift the array on every bid.
		const excess = kept.events.length - eventsKept
		if (excess >= Math.max(1, eventsKept >> 4)) {
			kept.events.splice(0, excess)
			kept.firstSeq += excess
		}
	}

	const store = {
		async createAuction(record, createdEvent) {
			if (auctions.has(record.id)) throw new ExistsError(record.id)
			auctions.set(record.id, { record: { ...record }, events: [createdEvent], firstSeq: 0 })
			const key = listKey(record)
			sortedKeys.splice(upperBound(sortedKeys, key), 0, key)
			return toView(record, now())
		},

		async getAuction(id) {
			const kept = auctions.get(id)
			return kept ? toView(kept.record, now()) : null
		},

		async listAuctions({ status, cursor, limit }: ListQuery) {
			const t = now()
			let i = cursor === undefined ? sortedKeys.length : lowerBound(sortedKeys, decodeCursor(cursor))
			const items = []
			let lastKey: string | null = null
			while (--i >= 0) {
				const key = sortedKeys[i]!
				const view = toView(auctions.get(key.slice(16))!.record, t)
				if (status !== undefined && view.status !== status) continue
				if (items.length === limit) return { items, nextCursor: encodeCursor(lastKey!) }
				items.push(view)
				lastKey = key
			}
			return { items, nextCursor: null }
		},

		async placeBid(request: PlaceBidRequest): Promise<PlacedBid> {
			const kept = auctions.get(request.auction)
			if (!kept) throw new NotFoundError('auction')
			const t = now()
			const entry = refuseEntry(kept.record, request.bidder, t)
			if (entry) throw refusalError(entry)
			const fingerprint = idempotencyFingerprint(request)
			const key = request.idempotencyKey
			const bucketKey = `${request.auction}\n${request.bidder}`
			if (key !== undefined) {
				const prior = idempotency.get(bucketKey)?.get(key)
				if (prior && t - prior.at < idempotencyTtlMs) {
					if (prior.fingerprint !== fingerprint) throw new IdempotencyKeyReusedError()
					return { answer: answerJson(kept.record, prior), events: [], leading: prior.leading, replayed: true }
				}
			}
			const outcome = applyBid(kept.record, request, t, { bid: newEventId(), close: newEventId() })
			if ('code' in outcome) throw refusalError(outcome as Refusal)
			kept.record = outcome.next
			const events = outcome.events.map((e) => JSON.stringify(e))
			append(kept, events)
			const { endsAt, status, price, leader, bidCount, seq, reserveMet, winner } = toView(outcome.next, t)
			const answered = { bid: events[0] ?? null, live: { endsAt, status, price, leader, bidCount, seq, reserveMet, winner }, leading: outcome.leading }
			if (key !== undefined) remember(bucketKey, key, { at: t, fingerprint, ...answered })
			return { answer: answerJson(outcome.next, answered), events, leading: outcome.leading, replayed: false }
		},

		async eventsSince(id, since): Promise<EventsSince | null> {
			const kept = auctions.get(id)
			if (!kept) return null
			const seq = kept.record.seq
			const auction = toView(kept.record, now())
			// A seq beyond the current one was never handed out here: the caller's view is stale.
			if (since < kept.firstSeq - 1 || since > seq) return { reset: true, auction }
			return { reset: false, items: kept.events.slice(since + 1 - kept.firstSeq), seq, auction }
		},

		async dueAuctions(limit) {
			// A scan is fine at embedded scale and always sees the current (extended) endsAt.
			const t = now()
			const due: AuctionRecord[] = []
			for (const { record } of auctions.values()) if (!record.closed && record.endsAt <= t) due.push(record)
			return due
				.sort((a, b) => a.endsAt - b.endsAt)
				.slice(0, limit)
				.map((a) => a.id)
		},

		async closeAuction(id): Promise<CloseResult> {
			const kept = auctions.get(id)
			if (!kept) return { outcome: 'not-found' }
			const result = closeAuction(kept.record, now(), newEventId())
			if ('code' in result) return result.code === 'ALREADY' ? { outcome: 'already' } : { outcome: 'not-due', endsAt: result.endsAt }
			kept.record = result.next
			const event = JSON.stringify(result.event)
			append(kept, [event])
			return { outcome: 'closed', event }
		},

		async seqs(ids) {
			return ids.map((id) => auctions.get(id)?.record.seq ?? null)
		},

		async ping() {},

		async close() {
			clearInterval(sweep)
		},
	} satisfies BidStore
	return store
}

/** First index whose key is ≥ `key`. */
function lowerBound(keys: string[], key: string): number {
	let lo = 0
	let hi = keys.length
	while (lo < hi) {
		const mid = (lo + hi) >> 1
		if (keys[mid]! < key) lo = mid + 1
		else hi = mid
	}
	return lo
}

/** First index whose key is > `key`. */
function upperBound(keys: string[], key: string): number {
	let lo = 0
	let hi = keys.length
	while (lo < hi) {
		const mid = (lo + hi) >> 1
		if (keys[mid]! <= key) lo = mid + 1
		else hi = mid
	}
	return lo
}
