import { Cluster, ReplyError, type Redis, type Result } from 'ioredis'
import { settingsOf, toView, tiersOf, type AuctionRecord, type AuctionStatus } from '../../domain/auction.ts'
import { decodeCursor, encodeCursor, idOfListKey, listKey } from '../../domain/listing.ts'
import { newEventId } from '../../events.ts'
import { seqOf } from '../../ports/event-bus.ts'
import { DEFAULT_EVENTS_KEPT, DEFAULT_IDEMPOTENCY_KEYS_PER_BIDDER, DEFAULT_IDEMPOTENCY_TTL_MS } from '../../config.ts'
import { AppError, ExistsError, IdempotencyKeyReusedError, NotFoundError, UnavailableError } from '../../errors.ts'
import type { AuctionView } from '../../domain/auction.ts'
import {
	LISTING_ENDED_MAX,
	type BidStore,
	type CloseResult,
	type EventsSince,
	type ListQuery,
	type Page,
	type PlaceBidRequest,
	type PlacedBid,
	type Restorable,
} from '../../ports/bid-store.ts'
import { idempotencyFingerprint, refusalError } from '../bid-refusals.ts'
import { auctionKeys, catalogKeys, epochKey, legacyCatalogKeys } from './keys.ts'
import placeBidLua from './place-bid.lua' with { type: 'text' }
import createAuctionLua from './create-auction.lua' with { type: 'text' }
import closeAuctionLua from './close-auction.lua' with { type: 'text' }
import catalogLua from './catalog.lua' with { type: 'text' }
import restoreAuctionLua from './restore-auction.lua' with { type: 'text' }
import type { ReplicationWaiter } from './replication.ts'
import { recordOf, stateRecordJson, type IdempotencyEntry } from '../../domain/state-record.ts'

type ScriptReply = Array<string | number>

declare module 'ioredis' {
	interface RedisCommander<Context> {
		gavelPlaceBid(...keysAndArgs: Array<string | number>): Result<ScriptReply, Context>
		gavelCreateAuction(...keysAndArgs: Array<string | number>): Result<number, Context>
		gavelCloseAuction(...keysAndArgs: Array<string | number>): Result<ScriptReply, Context>
		gavelCatalog(...keysAndArgs: Array<string | number>): Result<number, Context>
		gavelRestoreAuction(...keysAndArgs: Array<string | number>): Result<number, Context>
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
	/**
	 * Makes each commit wait until the node's replicas hold it (REDIS_WAIT_REPLICAS), before it is
	 * answered or published: the log then never holds a commit a promoted replica lacks.
	 */
	replication?: ReplicationWaiter | null
}

/** Scheduled auctions one listing call moves to open per script run, and runs at most. */
const PROMOTE_BATCH = 1_000
const PROMOTE_RUNS = 4
/** Auctions per step when the listing sets are first filled from the index. */
const BACKFILL_BATCH = 500

/** Where an auction belongs in the listing sets: closed only once its closed flag is set. */
type Listed = Pick<AuctionRecord, 'id' | 'createdAt' | 'startsAt' | 'endsAt' | 'closed'>

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
	// `replication?.wait(key, present)`: resolves once the write just made to the key's node is
	// replicated; `present` says whether that write is there, should a failover move the slot
	// meanwhile. Without a waiter the optional call is skipped whole, arguments included: no
	// closure per bid.
	const replication = options.replication ?? null
	const hasRev = (key: string, rev: number) => async () => Number((await redis.hget(key, 'rev')) ?? -1) >= rev
	const inIndex = (member: string) => async () => (await redis.zscore(catalog.index, member)) !== null
	redis.defineCommand('gavelPlaceBid', { numberOfKeys: 4, lua: placeBidLua })
	redis.defineCommand('gavelCreateAuction', { numberOfKeys: 2, lua: createAuctionLua })
	redis.defineCommand('gavelCloseAuction', { numberOfKeys: 2, lua: closeAuctionLua })
	redis.defineCommand('gavelCatalog', { numberOfKeys: 7, lua: catalogLua })
	// Its number of keys varies (one pair per bidder with idempotency records): passed per call.
	redis.defineCommand('gavelRestoreAuction', { lua: restoreAuctionLua })
	const catalog = catalogKeys(prefix)
	const catalogSets = [catalog.index, catalog.due, catalog.scheduled, catalog.open, catalog.closed, catalog.starts, catalog.ends]
	const catalogScript = (...args: Array<string | number>) => redis.gavelCatalog(...catalogSets, ...args)
	const statusOf = (a: Listed, t: number) => (a.closed ? 'closed' : t < a.startsAt ? 'scheduled' : 'open')
	const catalogEntries = (auctions: Listed[], t: number) => auctions.flatMap((a) => [listKey(a), statusOf(a, t), a.startsAt, a.endsAt])

	// One HGETALL per auction rather than a pipeline: on a Cluster each goes to its slot's node,
	// and they still leave together (auto-pipelining, or simply not awaited one by one).
	const readRecords = (ids: string[]): Promise<Array<AuctionRecord | null>> =>
		Promise.all(ids.map(async (id) => {
			const hash = await redis.hgetall(auctionKeys(prefix, id).state)
			return hash.id ? fromHash(hash) : null
		}))

	const pageOf = async (keys: string[], limit: number, t: number, status?: AuctionStatus): Promise<Page<AuctionView>> => {
		const shown = keys.slice(0, limit)
		const records = await readRecords(shown.map(idOfListKey))
		const items: AuctionView[] = []
		const closedSince: Listed[] = []
		for (const record of records) {
			if (!record) continue
			const view = toView(record, t)
			// A status set may lag a write it raced with: show only what the page asked for.
			if (status === undefined || view.status === status) items.push(view)
			if (status !== undefined && status !== 'closed' && record.closed) closedSince.push(record)
		}
		await placeInListing(closedSince, t)
		return { items, nextCursor: keys.length > limit ? encodeCursor(shown[limit - 1]!) : null }
	}

	/** Puts auctions where a listing by status looks for them (see catalog.lua). */
	const placeInListing = async (auctions: Listed[], t: number) => {
		if (auctions.length > 0) await catalogScript('add', ...catalogEntries(auctions, t))
	}
	/** Lists it as closed and takes it off the closers' schedule: one script on the catalog's slot. */
	const closeInCatalog = (member: string) => catalogScript('add', member, 'closed', 0, 0)

	/** Scheduled auctions whose start has passed become open: a few script runs at most. */
	const promote = async (t: number) => {
		for (let run = 0; run < PROMOTE_RUNS; run++) {
			if ((await catalogScript('promote', t, PROMOTE_BATCH)) < PROMOTE_BATCH) return
		}
	}

	/**
	 * Of members whose end as last seen has passed, those closed at `t`: by their closed flag
	 * (the sets learn it here too) or by the clock, before a closer got to them. The others
	 * were extended by soft close: their end in `ends` moves to the current one.
	 */
	const closedAt = async (members: string[], t: number): Promise<string[]> => {
		const fields = await Promise.all(members.map((m) => redis.hmget(auctionKeys(prefix, idOfListKey(m)).state, 'endsAt', 'closed')))
		const closed: string[] = []
		const flagged: string[] = []
		const gone: string[] = []
		const extended: Array<string | number> = []
		members.forEach((member, i) => {
			const [endsAt, flag] = fields[i]!
			if (endsAt === null) gone.push(member)
			else if (flag === '1' || Number(endsAt) <= t) {
				closed.push(member)
				if (flag === '1') flagged.push(member)
			} else extended.push(Number(endsAt), member)
		})
		await Promise.all([
			...flagged.map(closeInCatalog),
			gone.length > 0 ? catalogScript('drop', ...gone) : null,
			extended.length > 0 ? redis.zadd(catalog.ends, 'XX', 'GT', ...extended) : null,
		])
		return closed
	}

	/**
	 * The catalog as this version keeps it, made once per process from what older versions left:
	 * their index and schedule (single keys outside the catalog's slot) moved in, then the
	 * auctions from before the status sets placed in them. Both steps are idempotent, so processes
	 * racing through them at a rolling upgrade do no harm.
	 */
	let catalogMade: Promise<void> | null = null
	const catalogReady = () =>
		(catalogMade ??= makeCatalog().catch((err: unknown) => {
			catalogMade = null
			throw err
		}))
	async function makeCatalog() {
		await moveLegacyCatalog()
		if ((await redis.get(catalog.indexed)) !== null) return
		let from = '-'
		for (;;) {
			const members = await redis.zrange(catalog.index, from, '+', 'BYLEX', 'LIMIT', 0, BACKFILL_BATCH)
			const fields = await Promise.all(
				members.map((m) => redis.hmget(auctionKeys(prefix, idOfListKey(m)).state, 'id', 'createdAt', 'startsAt', 'endsAt', 'closed')),
			)
			const found = fields.flatMap(([id, createdAt, startsAt, endsAt, closed]) =>
				!id ? [] : [{ id, createdAt: Number(createdAt), startsAt: Number(startsAt), endsAt: Number(endsAt), closed: closed === '1' }],
			)
			await placeInListing(found, now())
			if (members.length < BACKFILL_BATCH) break
			from = `(${members[members.length - 1]}`
		}
		await redis.set(catalog.indexed, '1')
	}
	/** Copies the old index and schedule into the catalog a batch at a time, then deletes them. */
	async function moveLegacyCatalog() {
		const legacy = legacyCatalogKeys(prefix)
		for (const [from, to] of [[legacy.index, catalog.index], [legacy.due, catalog.due]] as const) {
			for (;;) {
				const batch = await redis.zrange(from, 0, BACKFILL_BATCH - 1, 'WITHSCORES')
				if (batch.length === 0) break
				const pairs: Array<string | number> = []
				for (let i = 0; i < batch.length; i += 2) pairs.push(batch[i + 1]!, batch[i]!)
				// NX: what the catalog already has (written by a newer process) is newer than the old key.
				await redis.zadd(to, 'NX', ...pairs)
				await redis.zrem(from, ...batch.filter((_, i) => i % 2 === 0))
			}
		}
	}

	const store = {
		async createAuction(record, createdEvent) {
			const keys = auctionKeys(prefix, record.id)
			const fields = Object.entries(toHash(record)).flat()
			const t = now()
			// The catalog first, the auction's own script last (another slot, so one script cannot
			// write both): a crash in between leaves entries that name no auction, which a listing
			// skips and a closer drops, never an auction that is unlisted or never closed.
			// NX: an existing auction's end in the closers' schedule is never overwritten.
			const enter = () => catalogScript('enter', ...catalogEntries([record], t))
			await enter()
			const created = await redis.gavelCreateAuction(keys.state, keys.events, createdEvent, eventsKept, ...fields)
			if (created !== 1) {
				// The id is taken: take back the entries that named this attempt.
				await catalogScript('drop', listKey(record)).catch(() => undefined)
				throw new ExistsError(record.id)
			}
			// And once more after: a Redis that restarted empty between the two steps took the first
			// entries with it, while the auction landed in the new one (idempotent writes, creates are rare).
			// Both slots' writes replicated: a failover must not lose the auction, nor its closing.
			const member = listKey(record)
			const present = async () => (await redis.hget(keys.state, 'createdAt')) === String(record.createdAt)
			await Promise.all([replication?.wait(keys.state, present), enter().then(() => replication?.wait(catalog.index, inIndex(member)))])
			return toView(record, t)
		},

		async getAuction(id) {
			const [record] = await readRecords([id])
			return record ? toView(record, now()) : null
		},

		async listAuctions({ status, cursor, limit }: ListQuery) {
			const t = now()
			const after = cursor === undefined ? null : decodeCursor(cursor)
			const from = after === null ? '+' : `(${after}`
			await catalogReady()
			if (status === undefined) {
				const keys = await redis.zrange(catalog.index, from, '-', 'BYLEX', 'REV', 'LIMIT', 0, limit + 1)
				return pageOf(keys, limit, t)
			}
			const readPage = (extra: number) => redis.zrange(catalog[status], from, '-', 'BYLEX', 'REV', 'LIMIT', 0, limit + 1 + extra)
			// One round trip, usually all it takes: the page, and whether a status changed with no write.
			const replies = (await redis
				.multi()
				.zrange(catalog[status], from, '-', 'BYLEX', 'REV', 'LIMIT', 0, limit + 1)
				.zrange(catalog.starts, '-inf', t, 'BYSCORE', 'LIMIT', 0, 1)
				.zrange(catalog.ends, '-inf', t, 'BYSCORE', 'LIMIT', 0, LISTING_ENDED_MAX)
				.exec()) as Array<[Error | null, string[]]>
			const [page, started, due] = replies.map(([err, members]) => {
				if (err) throw err
				return members
			}) as [string[], string[], string[]]
			let keys: string[] | null = page
			if (started.length > 0) {
				await promote(t)
				keys = null
			}
			// Ended by the clock but not closed yet: closed at t, though still in the open set.
			const ended = due.length > 0 ? await closedAt(due, t) : []
			if (status === 'closed') {
				keys ??= await readPage(0)
				const more = ended.filter((m) => after === null || m < after)
				keys = [...new Set([...keys, ...more])].sort().reverse()
			} else {
				if (keys === null || ended.length > 0) keys = await readPage(ended.length)
				const endedSet = new Set(ended)
				keys = keys.filter((m) => !endedSet.has(m))
			}
			return pageOf(keys.slice(0, limit + 1), limit, t, status)
		},

		async placeBid(request: PlaceBidRequest): Promise<PlacedBid> {
			assertScriptArguments(request)
			const keys = auctionKeys(prefix, request.auction)
			const key = request.idempotencyKey
			const records = key === undefined ? null : keys.idempotency(request.bidder)
			const t = now()
			const fingerprint = idempotencyFingerprint(request)
			const reply = await redis.gavelPlaceBid(
				keys.state,
				keys.events,
				records?.answers ?? keys.noIdempotency,
				records?.order ?? keys.noIdempotency,
				t,
				request.bidder,
				JSON.stringify(request.bidder),
				request.amount,
				request.maxAmount ?? '',
				newEventId(),
				newEventId(),
				eventsKept,
				key === undefined ? '0' : idempotencyTtl,
				fingerprint,
				key ?? '',
				keysPerBidder,
			)
			const code = reply[0]
			if (code === 'OK') {
				const copied = replication?.wait(keys.state, hasRev(keys.state, reply[3] as number))
				const answer = reply[1] as string
				const [rev, leaderMax, reservePrice, closedFlag] = reply.slice(3, 7) as [number, string, string, number]
				const events = reply.slice(7) as string[]
				const view = (JSON.parse(answer) as { auction: AuctionView }).auction
				const record = recordOf(view, { leaderMax: Number(leaderMax), reservePrice: reservePrice === '' ? null : Number(reservePrice), closed: closedFlag === 1 })
				const idempotent: IdempotencyEntry | null = key === undefined ? null : { bidder: request.bidder, key, at: t, fingerprint, answer }
				const state = stateRecordJson(record, rev, t, idempotent)
				if (events.length === 2) {
					// A buy-now closed it. Should this write fail, the listing heals itself (an open
					// page that meets the auction, or the closer at its end): never fail the bid for it.
					await closeInCatalog(listKey({ createdAt: view.createdAt, id: request.auction })).catch(() => undefined)
				}
				if (copied) await copied
				return { answer, events, state, leading: reply[2] === 1, replayed: false }
			}
			if (code === 'REPLAY') {
				const answer = reply[1] as string
				return { answer, events: [], state: null, leading: JSON.parse(answer).leading, replayed: true }
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
			await catalogReady()
			return redis.zrange(catalog.due, '-inf', now(), 'BYSCORE', 'LIMIT', 0, limit)
		},

		async closeAuction(id): Promise<CloseResult> {
			const keys = auctionKeys(prefix, id)
			const t = now()
			const reply = await redis.gavelCloseAuction(keys.state, keys.events, t, newEventId(), eventsKept)
			if (reply[0] === 'NOT_DUE') {
				const endsAt = reply[1] as number
				// Extended by soft close: check again then (and the listing learns the new end).
				await catalogScript('reschedule', listKey({ createdAt: reply[2] as number, id }), endsAt)
				return { outcome: 'not-due', endsAt }
			}
			if (reply[0] === 'NOT_FOUND') {
				await catalogScript('unschedule', id)
				return { outcome: 'not-found' }
			}
			// Done (by us or by an earlier closer that died before this step): unschedule, list as closed.
			await closeInCatalog(listKey({ createdAt: reply[reply.length - 1] as number, id }))
			if (reply[0] === 'CLOSED') {
				// A closed auction never changes again: read now, the hash is the state the close left.
				const [[record]] = await Promise.all([readRecords([id]), replication?.wait(keys.state, hasRev(keys.state, reply[2] as number))])
				return { outcome: 'closed', event: reply[1] as string, state: stateRecordJson(record!, reply[2] as number, t) }
			}
			if (reply[0] === 'ALREADY') return { outcome: 'already' }
			throw new Error(`close-auction.lua answered ${JSON.stringify(reply)}`)
		},

		async restore({ state, events, idempotency: answers }: Restorable) {
			const { record } = state
			const keys = auctionKeys(prefix, record.id)
			const t = now()
			const hash = Object.entries(toHash(record)).flat()
			const window = events.slice(-Number(eventsKept))
			// The answers still in force, grouped by bidder, the newest `keysPerBidder` of each.
			const byBidder = new Map<string, IdempotencyEntry[]>()
			for (const entry of answers) {
				if (t - entry.at >= Number(idempotencyTtl)) continue
				const list = byBidder.get(entry.bidder) ?? []
				list.push(entry)
				byBidder.set(entry.bidder, list)
			}
			const bidderKeys: string[] = []
			const bidderArgs: Array<string | number> = []
			for (const [bidder, entries] of byBidder) {
				const kept = entries.sort((a, b) => a.at - b.at).slice(-Number(keysPerBidder))
				const pair = keys.idempotency(bidder)
				bidderKeys.push(pair.answers, pair.order)
				bidderArgs.push(kept.length, ...kept.flatMap((e) => [e.key, idempotencyLine(e)]), kept[kept.length - 1]!.at)
			}
			const allKeys = [keys.state, keys.events, ...bidderKeys]
			const restored = await redis.gavelRestoreAuction(
				allKeys.length,
				...allKeys,
				state.rev,
				eventsKept,
				idempotencyTtl,
				t,
				hash.length,
				...hash,
				window.length,
				...window.flatMap((json) => [seqOf(json), json]),
				...bidderArgs,
			)
			// Its place in the catalog (after the script), even when kept: a rebuild cut short after its
			// script but before this would otherwise leave the auction unlisted for good. Idempotent;
			// NX never moves an end the schedule knows, and a closed status is final.
			await catalogScript('enter', ...catalogEntries([record], t))
			await Promise.all([restored === 1 ? replication?.wait(keys.state, hasRev(keys.state, state.rev)) : null, replication?.wait(catalog.index, inIndex(listKey(record)))])
			return restored === 1 ? 'restored' : 'kept'
		},

		async seqs(ids) {
			// One HGET per auction rather than a pipeline: each goes to its own slot's node on a
			// Cluster, and auto-pipelining still sends them together.
			const seqs = await Promise.all(ids.map((id) => redis.hget(auctionKeys(prefix, id).state, 'seq')))
			return seqs.map((s) => (s === null ? null : Number(s)))
		},

		async stateOf(id: string) {
			// One HGETALL: the record and its rev read at the same instant.
			const hash = await redis.hgetall(auctionKeys(prefix, id).state)
			return hash.id ? stateRecordJson(fromHash(hash), Number(hash.rev ?? 0), now()) : null
		},

		async epoch() {
			return redis.get(epochKey(prefix))
		},

		async setEpoch(value: string) {
			await redis.set(epochKey(prefix), value)
			await replication?.wait(epochKey(prefix), async () => (await redis.get(epochKey(prefix))) === value)
		},

		async ping() {
			await redis.ping()
		},

		async close() {},
	} satisfies BidStore
	// A command sent by a slot map the failover made stale: ask the cluster where the slots are now.
	const onRedirect = redis instanceof Cluster ? () => void redis.refreshSlotsCache() : () => {}
	return unavailableWhenUnreachable(store, onRedirect)
}

/**
 * Redis Cluster's answers to a command that went to a node that does not serve its slot now, or
 * not yet: a failover under way (MOVED/ASK to the promoted replica, TRYAGAIN, CLUSTERDOWN while
 * no primary serves the slot, READONLY from an old primary back as a replica, LOADING). The
 * command did not run (a script on a replica fails at its first write, having written nothing).
 * ioredis follows MOVED for a lone command, but an auto-pipelined batch whose commands got
 * different redirects (several slots of the failed node) hands each its error.
 */
const NOT_SERVED_HERE = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN|READONLY|LOADING|MASTERDOWN)\b/

/** Whether Redis answered that the command did not run on this node (a failover under way). */
export const notServedHere = (err: unknown): boolean => err instanceof ReplyError && NOT_SERVED_HERE.test((err as Error).message)

/**
 * unavailableWhenUnreachable turns "Redis did not answer" (connection lost, retries used up) and
 * "not served here" (a Redis Cluster failover under way) into a 503 UNAVAILABLE the client can
 * retry (with the same Idempotency-Key for a bid), instead of a 500; `onRedirect` then refreshes
 * the slot map. What Redis itself refused otherwise (a ReplyError: a bug in a script) and the
 * store's own refusals pass through unchanged.
 */
export function unavailableWhenUnreachable<S extends BidStore>(store: S, onRedirect: () => void = () => {}): S {
	const guard = (err: unknown): never => {
		if (notServedHere(err)) {
			onRedirect()
			throw new UnavailableError('the bid store is failing over; retry (with the same Idempotency-Key for a bid)', { cause: err })
		}
		// A refusal, a script error or a caller's bug (TypeError) is no outage: never a retryable 503.
		if (err instanceof AppError || err instanceof ReplyError || err instanceof TypeError) throw err
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

/**
 * assertScriptArguments: ioredis flattens arrays into a script's arguments and stringifies
 * anything, so a value that is not the string or integer the script expects would shift or
 * forge the others. The edge already validated all of them; this is the last check before Lua.
 */
function assertScriptArguments({ auction, bidder, amount, maxAmount, idempotencyKey }: PlaceBidRequest): void {
	const ok =
		typeof auction === 'string' &&
		typeof bidder === 'string' &&
		Number.isSafeInteger(amount) &&
		(maxAmount === undefined || Number.isSafeInteger(maxAmount)) &&
		(idempotencyKey === undefined || typeof idempotencyKey === 'string')
	if (!ok) throw new TypeError('placeBid: auction, bidder and idempotency key must be strings, amounts safe integers')
}

/**
 * idempotencyLine is an idempotency record as place-bid.lua keeps it (the format is described at
 * the top of that script), made from the answer it stands for, for a restore. A replay from it
 * builds the answer byte for byte again.
 */
function idempotencyLine({ bidder, at, fingerprint, answer }: IdempotencyEntry): string {
	const { bid, auction } = JSON.parse(answer) as {
		bid: { id: string; seq: number; amount: number; price: number; leader: string; proxy: boolean; reserveMet: boolean } | null
		auction: AuctionView
	}
	const leaderText = (leader: string | null) => (leader === null || leader === bidder ? '' : JSON.stringify(leader))
	if (bid === null) {
		const flags = auction.reserveMet ? 'R' : '-'
		return `${at} ${fingerprint} ${auction.seq} ${auction.bidCount} ${auction.endsAt} ${auction.price ?? ''} ${flags} - - ${leaderText(auction.leader)}`
	}
	// C: this bid's buy-now closed the auction (its auction.closed follows the bid at seq + 1).
	const flags = `E${bid.proxy ? 'P' : ''}${auction.seq === bid.seq + 1 ? 'C' : ''}${bid.reserveMet ? 'R' : ''}`
	return `${at} ${fingerprint} ${bid.seq} ${auction.bidCount} ${auction.endsAt} ${bid.price} ${flags} ${bid.id} ${bid.amount} ${leaderText(bid.leader)}`
}
