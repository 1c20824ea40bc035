import { ReplyError, type Cluster, type Redis, type Result } from 'ioredis'
import { settingsOf, toView, tiersOf, type AuctionRecord } from '../../domain/auction.ts'
import { decodeCursor, encodeCursor, idOfListKey, listKey } from '../../domain/listing.ts'
import { newEventId } from '../../events.ts'
import { DEFAULT_EVENTS_KEPT, DEFAULT_IDEMPOTENCY_KEYS_PER_BIDDER, DEFAULT_IDEMPOTENCY_TTL_MS } from '../../config.ts'
import { AppError, ExistsError, IdempotencyKeyReusedError, NotFoundError, UnavailableError } from '../../errors.ts'
import type { AuctionView } from '../../domain/auction.ts'
import type { BidStore, CloseResult, EventsSince, ListQuery, PlaceBidRequest, PlacedBid } from '../../ports/bid-store.ts'
import { idempotencyFingerprint, refusalError } from '../bid-refusals.ts'
import { auctionKeys, dueKey, indexKey } from './keys.ts'
import placeBidLua from './place-bid.lua' with { type: 'text' }
import createAuctionLua from './create-auction.lua' with { type: 'text' }
import closeAuctionLua from './close-auction.lua' with { type: 'text' }

type ScriptReply = Array<string | number>

declare module 'ioredis' {
	interface RedisCommander<Context> {
		gavelPlaceBid(...keysAndArgs: Array<string | number>): Result<ScriptReply, Context>
		gavelCreateAuction(...keysAndArgs: Array<string | number>): Result<number, Context>
		gavelCloseAuction(...keysAndArgs: Array<string | number>): Result<ScriptReply, Context>
	}
}

export interface RedisBidStoreOptions {
	redis: Redis | Cluster
	/** Key prefix; tests give each run its own. */
	prefix?: string
	eventsKept?: number
	idempotencyTtlMs?: number
	/** Idempotency records one bidder keeps per auction; past it the oldest is forgotten. */
	idempotencyKeysPerBidder?: number
	now?: () => number
}

/** How many index entries one list call reads at most while filtering by status. */
const LIST_SCAN_BUDGET = 2_000

/**
 * createRedisBidStore keeps auctions in Redis. Every bid is one EVALSHA of place-bid.lua: the
 * rules, the state update, the event append and the idempotency record happen atomically.
 */
export function createRedisBidStore(options: RedisBidStoreOptions) {
	const { redis } = options
	const prefix = options.prefix ?? 'gavel'
	const eventsKept = String(options.eventsKept ?? DEFAULT_EVENTS_KEPT)
	const idempotencyTtl = String(options.idempotencyTtlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS)
	const keysPerBidder = String(options.idempotencyKeysPerBidder ?? DEFAULT_IDEMPOTENCY_KEYS_PER_BIDDER)
	const now = options.now ?? Date.now
	redis.defineCommand('gavelPlaceBid', { numberOfKeys: 4, lua: placeBidLua })
	redis.defineCommand('gavelCreateAuction', { numberOfKeys: 2, lua: createAuctionLua })
	redis.defineCommand('gavelCloseAuction', { numberOfKeys: 2, lua: closeAuctionLua })

	const readViews = async (ids: string[], t: number): Promise<Array<AuctionView | null>> => {
		if (ids.length === 0) return []
		const pipeline = redis.pipeline()
		for (const id of ids) pipeline.hgetall(auctionKeys(prefix, id).state)
		const replies = (await pipeline.exec()) ?? []
		return replies.map(([err, hash]) => {
			if (err) throw err
			const h = hash as Record<string, string>
			return h.id ? toView(fromHash(h), t) : null
		})
	}

	const store = {
		async createAuction(record, createdEvent) {
			const keys = auctionKeys(prefix, record.id)
			const fields = Object.entries(toHash(record)).flat()
			const created = await redis.gavelCreateAuction(keys.state, keys.events, createdEvent, eventsKept, ...fields)
			if (created !== 1) throw new ExistsError(record.id)
			await redis.pipeline().zadd(indexKey(prefix), 0, listKey(record)).zadd(dueKey(prefix), record.endsAt, record.id).exec()
			return toView(record, now())
		},

		async getAuction(id) {
			const [view] = await readViews([id], now())
			return view ?? null
		},

		async listAuctions({ status, cursor, limit }: ListQuery) {
			const t = now()
			let from = cursor === undefined ? '+' : `(${decodeCursor(cursor)}`
			const items: AuctionView[] = []
			let scanned = 0
			while (scanned < LIST_SCAN_BUDGET) {
				const batch = Math.min(limit + 1, 500)
				const keys = await redis.zrange(indexKey(prefix), from, '-', 'BYLEX', 'REV', 'LIMIT', 0, batch)
				scanned += keys.length
				const views = await readViews(keys.map(idOfListKey), t)
				for (let i = 0; i < keys.length; i++) {
					const view = views[i]
					if (!view || (status !== undefined && view.status !== status)) continue
					if (items.length === limit) return { items, nextCursor: encodeCursor(listKey(items[limit - 1]!)) }
					items.push(view)
				}
				if (keys.length < batch) return { items, nextCursor: null }
				from = `(${keys[keys.length - 1]}`
			}
			// Filtering ran out of budget: hand back a cursor where the scan stopped.
			return { items, nextCursor: encodeCursor(from.slice(1)) }
		},

		async placeBid(request: PlaceBidRequest): Promise<PlacedBid> {
			const keys = auctionKeys(prefix, request.auction)
			const key = request.idempotencyKey
			const records = key === undefined ? null : keys.idempotency(request.bidder)
			const reply = await redis.gavelPlaceBid(
				keys.state,
				keys.events,
				records?.answers ?? keys.noIdempotency,
				records?.order ?? keys.noIdempotency,
				now(),
				request.bidder,
				JSON.stringify(request.bidder),
				request.amount,
				request.maxAmount ?? '',
				newEventId(),
				newEventId(),
				eventsKept,
				key === undefined ? '0' : idempotencyTtl,
				idempotencyFingerprint(request),
				key ?? '',
				keysPerBidder,
			)
			const code = reply[0]
			if (code === 'OK')
				return { answer: reply[1] as string, events: reply.slice(3) as string[], leading: reply[2] === 1, replayed: false }
			if (code === 'REPLAY') {
				const answer = reply[1] as string
				return { answer, events: [], leading: JSON.parse(answer).leading, replayed: true }
			}
			if (code === 'NOT_FOUND') throw new NotFoundError('auction')
			if (code === 'IDEMPOTENCY_KEY_REUSED') throw new IdempotencyKeyReusedError()
			if (code === 'NOT_STARTED') throw refusalError({ code, startsAt: reply[1] as number })
			if (code === 'TOO_LOW') throw refusalError({ code, minimum: reply[1] as number })
			if (code === 'CLOSED' || code === 'OWN_AUCTION') throw refusalError({ code })
			throw new Error(`place-bid.lua answered ${JSON.stringify(reply)}`)
		},

		async eventsSince(id, since): Promise<EventsSince | null> {
			const keys = auctionKeys(prefix, id)
			// One MULTI (same slot): the state and the window are read at the same instant.
			const replies = await redis.multi().hgetall(keys.state).xrange(keys.events, `${since + 1}-0`, '+').exec()
			const [[stateErr, hash], [rangeErr, range]] = replies as [[Error | null, Record<string, string>], [Error | null, Array<[string, string[]]>]]
			if (stateErr || rangeErr) throw stateErr ?? rangeErr
			if (!hash.id) return null
			const record = fromHash(hash)
			const first = range[0]
			const firstSeq = first ? Number.parseInt(first[0], 10) : record.seq + 1
			const auction = toView(record, now())
			// A seq beyond the current one was never handed out here: the caller's view is stale.
			if (since > record.seq || (since < record.seq && firstSeq !== since + 1)) return { reset: true, auction }
			return { reset: false, items: range.map(([, fields]) => fields[1]!), seq: record.seq, auction }
		},

		async dueAuctions(limit) {
			return redis.zrange(dueKey(prefix), '-inf', now(), 'BYSCORE', 'LIMIT', 0, limit)
		},

		async closeAuction(id): Promise<CloseResult> {
			const keys = auctionKeys(prefix, id)
			const reply = await redis.gavelCloseAuction(keys.state, keys.events, now(), newEventId(), eventsKept)
			if (reply[0] === 'NOT_DUE') {
				const endsAt = reply[1] as number
				await redis.zadd(dueKey(prefix), endsAt, id) // extended by soft close: check again then
				return { outcome: 'not-due', endsAt }
			}
			// Done (by us or by an earlier closer that died before this step): unschedule.
			await redis.zrem(dueKey(prefix), id)
			if (reply[0] === 'CLOSED') return { outcome: 'closed', event: reply[1] as string }
			if (reply[0] === 'ALREADY') return { outcome: 'already' }
			if (reply[0] === 'NOT_FOUND') return { outcome: 'not-found' }
			throw new Error(`close-auction.lua answered ${JSON.stringify(reply)}`)
		},

		async seqs(ids) {
			// One HGET per auction rather than a pipeline: each goes to its own slot's node on a
			// Cluster, and auto-pipelining still sends them together.
			const seqs = await Promise.all(ids.map((id) => redis.hget(auctionKeys(prefix, id).state, 'seq')))
			return seqs.map((s) => (s === null ? null : Number(s)))
		},

		async ping() {
			await redis.ping()
		},

		async close() {},
	} satisfies BidStore
	return unavailableWhenUnreachable(store)
}

/**
 * unavailableWhenUnreachable turns "Redis did not answer" (connection lost, retries used up)
 * into a 503 UNAVAILABLE the client can retry (with the same Idempotency-Key for a bid),
 * instead of a 500. What Redis itself refused (a ReplyError: a bug in a script) and the
 * store's own refusals pass through unchanged.
 */
function unavailableWhenUnreachable<S extends BidStore>(store: S): S {
	const guard = (err: unknown): never => {
		if (err instanceof AppError || err instanceof ReplyError) throw err
		throw new UnavailableError('the bid store is not answering; retry (with the same Idempotency-Key for a bid)', { cause: err })
	}
	const guarded = { ...store }
	for (const key of Object.keys(store) as Array<keyof BidStore>) {
		if (key === 'ping' || key === 'close') continue // readiness wants the real error
		const method = store[key] as (...args: unknown[]) => Promise<unknown>
		;(guarded as Record<string, unknown>)[key] = (...args: unknown[]) => method(...args).catch(guard)
	}
	return guarded
}

/**
 * The state hash, field by field; '' stands for null, numbers are decimal strings, names
 * (`leader`, `winner`) are stored as JSON and `head` is the settings rendered as the start of
 * a view, so place-bid.lua builds answers without encoding anything.
 */
function toHash(a: AuctionRecord): Record<string, string> {
	const orEmpty = (v: number | string | null) => (v === null ? '' : String(v))
	const json = (v: string | null) => (v === null ? '' : JSON.stringify(v))
	return {
		head: JSON.stringify(settingsOf(a)).slice(0, -1),
		step: typeof a.increment === 'number' ? String(a.increment) : '',
		id: a.id,
		title: a.title,
		sellerId: a.sellerId,
		currency: a.currency,
		startingPrice: String(a.startingPrice),
		reservePrice: orEmpty(a.reservePrice),
		buyNowPrice: orEmpty(a.buyNowPrice),
		increment: JSON.stringify(a.increment),
		tiers: tiersOf(a.increment).map(([from, step]) => `${from}:${step}`).join(' '),
		softCloseMs: String(a.softCloseMs),
		startsAt: String(a.startsAt),
		endsAt: String(a.endsAt),
		maxEndsAt: String(a.maxEndsAt),
		createdAt: String(a.createdAt),
		price: orEmpty(a.price),
		leader: json(a.leader),
		leaderMax: orEmpty(a.leaderMax),
		bidCount: String(a.bidCount),
		seq: String(a.seq),
		reserveMet: String(a.reserveMet),
		closed: a.closed ? '1' : '0',
		winner: json(a.winner),
	}
}

function fromHash(h: Record<string, string>): AuctionRecord {
	const num = (v: string | undefined) => (v === undefined || v === '' ? null : Number(v))
	const json = (v: string | undefined) => (v === undefined || v === '' ? null : (JSON.parse(v) as string))
	return {
		id: h.id!,
		title: h.title!,
		sellerId: h.sellerId!,
		currency: h.currency!,
		startingPrice: Number(h.startingPrice),
		reservePrice: num(h.reservePrice),
		buyNowPrice: num(h.buyNowPrice),
		increment: JSON.parse(h.increment!),
		softCloseMs: Number(h.softCloseMs),
		startsAt: Number(h.startsAt),
		endsAt: Number(h.endsAt),
		maxEndsAt: Number(h.maxEndsAt),
		createdAt: Number(h.createdAt),
		price: num(h.price),
		leader: json(h.leader),
		leaderMax: num(h.leaderMax),
		bidCount: Number(h.bidCount),
		seq: Number(h.seq),
		reserveMet: h.reserveMet === 'true',
		closed: h.closed === '1',
		winner: json(h.winner),
	}
}
