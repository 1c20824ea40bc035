import type { AuctionRecord, AuctionStatus, AuctionView } from '../domain/auction.ts'

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
	/** Newest first, optionally one status, cursor pages (`nextCursor` null on the last page). */
	listAuctions(query: ListQuery): Promise<Page<AuctionView>>
	/**
	 * placeBid applies DESIGN §2 rules 1–8 atomically. Refusals throw the AppError for their
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
 */
export interface PlacedBid {
	answer: string
	events: string[]
	leading: boolean
	replayed: boolean
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

export type EventsSince =
	// `items`: the stored event JSON; `seq` is `auction.seq`, the state the items lead to
	| { reset: false; items: string[]; seq: number; auction: AuctionView }
	| { reset: true; auction: AuctionView }
