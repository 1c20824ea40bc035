import type { AuctionView } from '../../domain/auction.ts'
import { newAuction, type NewAuctionInput } from '../../domain/new-auction.ts'
import { ExistsError, NotFoundError, RebuildingError } from '../../errors.ts'
import type { Archive } from '../../ports/archive.ts'
import type { Logger } from '../../observability/log.ts'
import { auctionCreated } from '../../events.ts'
import { stateRecordJson } from '../../domain/state-record.ts'
import { DEFAULT_DURABLE_WAIT_MS } from '../../config.ts'
import { durable } from '../events/durable.ts'
import type { Principal } from '../../auth/tokens.ts'
import type { BidStore, EventsSince, ListQuery, Page } from '../../ports/bid-store.ts'
import type { Metrics } from '../../observability/metrics.ts'
import type { Publish } from '../events/publisher.ts'

export interface AuctionServiceDeps {
	store: BidStore
	publish: Publish
	metrics: Metrics
	/**
	 * The archive, to refuse an id it already holds: a store that lost its state (the embedded
	 * store after a restart) would otherwise reuse it, and the new auction's events would
	 * collide with the archived ones by (auction, seq).
	 */
	archive?: Pick<Archive, 'auction'>
	log?: Logger
	now?: () => number
	/** How long an answer waits for its commit to be durable in the log (DURABLE_WAIT_MS). */
	durableWaitMs?: number
	/** Whether the store is being rebuilt: an auction it does not know may be on its way back. */
	rebuilding?: { lost(): Promise<boolean> }
}

/** createAuctionService opens, finds and lists auctions; it knows nothing of HTTP. */
export function createAuctionService({ store, publish, metrics, archive, log, now = Date.now, durableWaitMs = DEFAULT_DURABLE_WAIT_MS, rebuilding }: AuctionServiceDeps) {
	/** Not found, or not back yet: while the store is rebuilt, an unknown id is a 503, never a 404. */
	const notFound = async () => (rebuilding && (await rebuilding.lost()) ? new RebuildingError() : new NotFoundError('auction'))

	/** Whether the archive already has this id; an archive that does not answer does not block creation. */
	const archived = async (id: string) => {
		try {
			return (await archive!.auction(id)) !== null
		} catch (err) {
			log?.warn({ err, auction: id }, 'archive not answering; auction id not checked against history')
			return false
		}
	}

	return {
		async create(input: NewAuctionInput, seller: Principal): Promise<AuctionView> {
			const record = newAuction(input, seller.sub, now())
			// Generated ids are UUIDv7 and never collide; a chosen one may name an archived auction.
			if (input.id !== undefined && archive && (await archived(input.id))) throw new ExistsError(input.id)
			const json = JSON.stringify(auctionCreated(record))
			const view = await store.createAuction(record, json)
			metrics.auctionsCreated.inc()
			// The creation is a commit like a bid: its event and its state record (rev 0) in the log before the 201.
			await durable(publish(record.id, [json], stateRecordJson(record, 0, record.createdAt)), durableWaitMs, 'the auction', `ask for it (GET /auctions/${record.id}) to learn whether it exists`)
			return view
		},

		async get(id: string): Promise<AuctionView> {
			const view = await store.getAuction(id)
			if (!view) throw await notFound()
			return view
		},

		list(query: ListQuery): Promise<Page<AuctionView>> {
			return store.listAuctions(query)
		},

		async eventsSince(id: string, since: number): Promise<EventsSince> {
			const result = await store.eventsSince(id, since)
			if (!result) throw await notFound()
			return result
		},
	}
}

export type AuctionService = ReturnType<typeof createAuctionService>
