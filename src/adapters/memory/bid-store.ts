import { settingsOf, toView, type AuctionRecord, type AuctionStatus, type AuctionView } from '../../domain/auction.ts'
import { decodeCursor, encodeCursor, idOfListKey, listKey } from '../../domain/listing.ts'
import { applyBid, closeAuction, refuseEntry, type Refusal } from '../../domain/rules.ts'
import { newEventId } from '../../events.ts'
import { DEFAULT_EVENTS_KEPT, DEFAULT_IDEMPOTENCY_KEYS_PER_BIDDER, DEFAULT_IDEMPOTENCY_TTL_MS } from '../../config.ts'
import {
	LISTING_ENDED_MAX,
	type BidStore,
	type CloseResult,
	type EventsSince,
	type ListQuery,
	type PlaceBidRequest,
	type PlacedBid,
	type Restorable,
} from '../../ports/bid-store.ts'
import { refusalError, idempotencyFingerprint } from '../bid-refusals.ts'
import { stateRecordJson, type IdempotencyEntry } from '../../domain/state-record.ts'
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
	/** Commits so far (the state records' `rev`): 0 at creation. */
	rev: number
	/** Recent events as JSON, oldest first; `firstSeq` is the seq of events[0]. */
	events: string[]
	firstSeq: number
	/** Where the listing has it: its status set (closed once its closed flag is set) and the end in `ends`. */
	listed: AuctionStatus
	listedEnd: number
}

/** A member of a set ordered by a time: `[time, list key]`. */
type Timed = [number, string]
const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
const byTime = (a: Timed, b: Timed) => a[0] - b[0] || byText(a[1], b[1])

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
	let epoch: string | null = null
	const sortedKeys: string[] = [] // ascending list keys
	// The listing by status, kept as the Redis store keeps it (docs/decisions.md "Listing"):
	// list keys by status, the scheduled by start and the not-closed by their current end.
	const listed: Record<AuctionStatus, string[]> = { scheduled: [], open: [], closed: [] }
	const starts: Timed[] = []
	const ends: Timed[] = []
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

	/** Moves an auction to another status set; closed leaves the time sets for good. */
	const relist = (kept: Kept, status: AuctionStatus) => {
		const key = listKey(kept.record)
		remove(listed[kept.listed], key, byText)
		insert(listed[status], key, byText)
		if (kept.listed === 'scheduled') remove(starts, [kept.record.startsAt, key], byTime)
		if (status === 'closed') remove(ends, [kept.listedEnd, key], byTime)
		kept.listed = status
	}

	/** Scheduled auctions whose start has passed become open (startsAt never changes). */
	const promote = (t: number) => {
		let due = 0
		while (due < starts.length && starts[due]![0] <= t) due++
		for (const [, key] of starts.splice(0, due)) {
			const kept = auctions.get(idOfListKey(key))!
			remove(listed.scheduled, key, byText)
			insert(listed.open, key, byText)
			kept.listed = 'open'
		}
	}

	/** Enters a new (or restored) auction in the index, its status set and the time sets. */
	const list = (record: AuctionRecord, t: number) => {
		const key = listKey(record)
		const status = record.closed ? 'closed' : t < record.startsAt ? 'scheduled' : 'open'
		insert(sortedKeys, key, byText)
		insert(listed[status], key, byText)
		if (status === 'scheduled') insert(starts, [record.startsAt, key], byTime)
		if (status !== 'closed') insert(ends, [record.endsAt, key], byTime)
		return status
	}
	/** Takes an auction out of every listing set (before a restore re-enters it). */
	const unlist = (kept: Kept) => {
		const key = listKey(kept.record)
		remove(sortedKeys, key, byText)
		for (const status of ['scheduled', 'open', 'closed'] as const) remove(listed[status], key, byText)
		remove(starts, [kept.record.startsAt, key], byTime)
		remove(ends, [kept.listedEnd, key], byTime)
	}

	const store = {
		async createAuction(record, createdEvent) {
			if (auctions.has(record.id)) throw new ExistsError(record.id)
			const t = now()
			const status = t < record.startsAt ? 'scheduled' : 'open'
			auctions.set(record.id, { record: { ...record }, rev: 0, events: [createdEvent], firstSeq: 0, listed: status, listedEnd: record.endsAt })
			list(record, t)
			return toView(record, t)
		},

		async getAuction(id) {
			const kept = auctions.get(id)
			return kept ? toView(kept.record, now()) : null
		},

		async listAuctions({ status, cursor, limit }: ListQuery) {
			const t = now()
			const after = cursor === undefined ? null : decodeCursor(cursor)
			/** The newest `n` keys of an ascending array, before the cursor. */
			const newest = (keys: string[], n: number) => {
				const end = after === null ? keys.length : lowerBound(keys, after, byText)
				return keys.slice(Math.max(0, end - n), end).reverse()
			}
			let keys: string[]
			if (status === undefined) keys = newest(sortedKeys, limit + 1)
			else {
				promote(t)
				// Ended by the clock but not closed yet: closed at t, though still in the open set.
				const ended: string[] = []
				for (const [end, key] of ends) {
					if (end > t || ended.length === LISTING_ENDED_MAX) break
					ended.push(key)
				}
				if (status === 'closed') {
					const more = ended.filter((key) => after === null || key < after)
					keys = [...newest(listed.closed, limit + 1), ...more].sort(byText).reverse()
				} else {
					const endedSet = new Set(ended)
					keys = newest(listed[status], limit + 1 + ended.length).filter((key) => !endedSet.has(key))
				}
				keys = keys.slice(0, limit + 1)
			}
			const shown = keys.slice(0, limit)
			const items = shown
				.map((key) => toView(auctions.get(idOfListKey(key))!.record, t))
				.filter((view) => status === undefined || view.status === status)
			return { items, nextCursor: keys.length > limit ? encodeCursor(shown[limit - 1]!) : null }
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
					return { answer: answerJson(kept.record, prior), events: [], state: null, leading: prior.leading, replayed: true }
				}
			}
			const outcome = applyBid(kept.record, request, t, { bid: newEventId(), close: newEventId() })
			if ('code' in outcome) throw refusalError(outcome as Refusal)
			kept.record = outcome.next
			if (outcome.next.closed) relist(kept, 'closed') // a buy-now
			else if (outcome.next.endsAt !== kept.listedEnd) {
				// Soft close moved the end: the listing knows ends exactly here.
				const key = listKey(outcome.next)
				remove(ends, [kept.listedEnd, key], byTime)
				insert(ends, [outcome.next.endsAt, key], byTime)
				kept.listedEnd = outcome.next.endsAt
			}
			const events = outcome.events.map((e) => JSON.stringify(e))
			append(kept, events)
			const { endsAt, status, price, leader, bidCount, seq, reserveMet, winner } = toView(outcome.next, t)
			const answered = { bid: events[0] ?? null, live: { endsAt, status, price, leader, bidCount, seq, reserveMet, winner }, leading: outcome.leading }
			if (key !== undefined) remember(bucketKey, key, { at: t, fingerprint, ...answered })
			const answer = answerJson(outcome.next, answered)
			const idempotent: IdempotencyEntry | null = key === undefined ? null : { bidder: request.bidder, key, at: t, fingerprint, answer }
			const state = stateRecordJson(outcome.next, ++kept.rev, t, idempotent)
			return { answer, events, state, leading: outcome.leading, replayed: false }
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
			// `ends` holds the auctions not closed by their current end.
			const t = now()
			const due: string[] = []
			for (const [end, key] of ends) {
				if (end > t || due.length === limit) break
				due.push(idOfListKey(key))
			}
			return due
		},

		async closeAuction(id): Promise<CloseResult> {
			const kept = auctions.get(id)
			if (!kept) return { outcome: 'not-found' }
			const t = now()
			const result = closeAuction(kept.record, t, newEventId())
			if ('code' in result) return result.code === 'ALREADY' ? { outcome: 'already' } : { outcome: 'not-due', endsAt: result.endsAt }
			kept.record = result.next
			relist(kept, 'closed')
			const event = JSON.stringify(result.event)
			append(kept, [event])
			return { outcome: 'closed', event, state: stateRecordJson(result.next, ++kept.rev, t) }
		},

		async restore({ state, events, idempotency: answers }: Restorable) {
			const held = auctions.get(state.auction)
			if (held && held.rev >= state.rev) return 'kept'
			if (held) unlist(held)
			const t = now()
			const record = { ...state.record }
			const window = events.slice(-eventsKept)
			const kept: Kept = {
				record,
				rev: state.rev,
				events: window,
				firstSeq: record.seq + 1 - window.length,
				listed: 'open',
				listedEnd: record.endsAt,
			}
			kept.listed = list(record, t)
			auctions.set(record.id, kept)
			for (const entry of answers) {
				if (t - entry.at >= idempotencyTtlMs) continue
				const { bid, auction: view, leading } = JSON.parse(entry.answer) as { bid: unknown; auction: AuctionView; leading: boolean }
				const { endsAt, status, price, leader, bidCount, seq, reserveMet, winner } = view
				remember(`${record.id}\n${entry.bidder}`, entry.key, {
					at: entry.at,
					fingerprint: entry.fingerprint,
					// The very bytes the event window holds: events are JSON.stringify-ed objects, so this round trip is exact.
					bid: bid === null ? null : JSON.stringify(bid),
					live: { endsAt, status, price, leader, bidCount, seq, reserveMet, winner },
					leading,
				})
			}
			return 'restored'
		},

		async seqs(ids) {
			return ids.map((id) => auctions.get(id)?.record.seq ?? null)
		},

		async stateOf(id: string) {
			const kept = auctions.get(id)
			return kept ? stateRecordJson(kept.record, kept.rev, now()) : null
		},

		async epoch() {
			return epoch
		},

		async setEpoch(value: string) {
			epoch = value
		},

		async ping() {},

		async close() {
			clearInterval(sweep)
		},
	} satisfies BidStore
	return store
}

/** First index whose item is ≥ `item`. */
function lowerBound<T>(items: T[], item: T, compare: (a: T, b: T) => number): number {
	let lo = 0
	let hi = items.length
	while (lo < hi) {
		const mid = (lo + hi) >> 1
		if (compare(items[mid]!, item) < 0) lo = mid + 1
		else hi = mid
	}
	return lo
}

function insert<T>(items: T[], item: T, compare: (a: T, b: T) => number) {
	const at = lowerBound(items, item, compare)
	if (at === items.length || compare(items[at]!, item) !== 0) items.splice(at, 0, item)
}

function remove<T>(items: T[], item: T, compare: (a: T, b: T) => number) {
	const at = lowerBound(items, item, compare)
	if (at < items.length && compare(items[at]!, item) === 0) items.splice(at, 1)
}
