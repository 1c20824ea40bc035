import type { AuctionRecord, AuctionStatus, AuctionView } from '../domain/auction.ts'
import type { IdempotencyEntry, StateRecord } from '../domain/state-record.ts'

/**
 * BidStore keeps each auction's state and its recent events, and applies bids atomically.
 * Adapters: Redis + Lua (`adapters/redis`) and in-memory (`adapters/memory`), proven equal by
 * `tests/contract/bid-store.ts`.
 */
export interface BidStore {
	/** Persists a new auction and its `auction.created` event (seq 0); ExistsError if the id is taken. */
	createAuction(record: AuctionRecord, createdEvent: string): Promise<AuctionView>
	/** The public view, or null for an unknown id. */
	getAuction(id: string): Promise<AuctionView | null>
	/**
	 * Newest first, optionally of one status at the store's `now` (exact across the clock's
	 * transitions), in cursor pages (`nextCursor` null on the last page). A call's work follows
	 * its `limit`, not the number of auctions.
	 */
	listAuctions(query: ListQuery): Promise<Page<AuctionView>>
	/**
	 * placeBid applies docs/design.md §2 rules 1–8 atomically. Refusals throw the AppError for their
	 * code (NotFoundError, NotStartedError, ClosedError, OwnAuctionError, TooLowError,
	 * IdempotencyKeyReusedError).
	 */
	placeBid(request: PlaceBidRequest): Promise<PlacedBid>
	/**
	 * eventsSince reads the events after `since`, oldest first, from the kept window, together with
	 * the state they lead to (one atomic read): `reset` when `since` left the window or lies beyond
	 * the current seq. Null for an unknown auction.
	 */
	eventsSince(id: string, since: number): Promise<EventsSince | null>
	/**
	 * Ids of auctions whose end has passed and that are not closed yet, earliest first. A hint:
	 * it may name one whose end soft close has moved since; `closeAuction` decides.
	 */
	dueAuctions(limit: number): Promise<string[]>
	/**
	 * closeAuction ends an auction whose current `endsAt` has passed, appending `auction.closed`,
	 * exactly once however many closers call it. An auction extended since it was scheduled is
	 * `not-due` (and rescheduled by the store).
	 */
	closeAuction(id: string): Promise<CloseResult>
	/**
	 * The current seq of each auction (null for an unknown id), in the order asked. Crash repair
	 * compares it with the archive's; single-key reads, so it costs the bid path nothing and
	 * works on Redis Cluster.
	 */
	seqs(ids: readonly string[]): Promise<Array<number | null>>
	/**
	 * restore writes an auction rebuilt from the log (docs/design.md §6): its newest state record,
	 * its recent public events and the idempotency answers still in force, with its place in the
	 * listing and the closers' schedule. It writes only when the store lacks the auction or holds
	 * an older rev of it (`kept` otherwise), so a late or repeated rebuild never goes back in time.
	 */
	restore(auction: Restorable): Promise<'restored' | 'kept'>
	/**
	 * The auction's state record as the store has it now (its current rev; no idempotency answer),
	 * or null for an unknown id: crash repair writes it with the events it repairs, so the log's
	 * newest state never stays behind an event the archive holds.
	 */
	stateOf(id: string): Promise<string | null>
	/**
	 * The store's epoch: a mark the last rebuild wrote when it was done (docs/design.md §6). Null
	 * means the store lost its state (a Redis restarted empty or flushed, a fresh memory store) or
	 * was never rebuilt: what it holds cannot be trusted to be all there is.
	 */
	epoch(): Promise<string | null>
	setEpoch(epoch: string): Promise<void>
	/** Resolves when the store answers; throws otherwise (readiness). */
	ping(): Promise<void>
	close(): Promise<void>
}

export interface PlaceBidRequest {
	auction: string
	bidder: string
	amount: number
	maxAmount?: number
	/** `Idempotency-Key` header: a retry with the same key gets the original answer. */
	idempotencyKey?: string
}

/**
 * The outcome as ready-to-send JSON: `answer` is the 201 body `{bid, auction, leading}` and
 * `events` the new events, both forwarded byte-for-byte (no re-serialisation on the hot path).
 * `state` is the commit's private state record (docs/design.md §6), null for a replay.
 */
export interface PlacedBid {
	answer: string
	events: string[]
	state: string | null
	leading: boolean
	replayed: boolean
}

/** What a rebuild hands the store for one auction (see `restore`). */
export interface Restorable {
	state: StateRecord
	/** Public events, oldest first, dense and ending at `state.record.seq` (the newest the log keeps). */
	events: string[]
	/** Answers still in force for Idempotency-Keys on this auction, oldest first. */
	idempotency: IdempotencyEntry[]
}

export interface ListQuery {
	status?: AuctionStatus
	cursor?: string
	limit: number
}

export interface Page<T> {
	items: T[]
	nextCursor: string | null
}

export type CloseResult =
	| { outcome: 'closed'; event: string; state: string }
	| { outcome: 'already' | 'not-found' }
	| { outcome: 'not-due'; endsAt: number }

export type EventsSince =
	// `items`: the stored event JSON; `seq` is `auction.seq`, the state the items lead to
	| { reset: false; items: string[]; seq: number; auction: AuctionView }
	| { reset: true; auction: AuctionView }

/**
 * A listing by status reads at most this many auctions whose end has passed but that no closer
 * has closed yet (with closers running: the few of the last second). Both stores use it, so
 * they page alike even while closers are behind (docs/decisions.md "Listing").
 */
export const LISTING_ENDED_MAX = 100
