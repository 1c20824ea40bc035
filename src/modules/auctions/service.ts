import type { AuctionView } from '../../domain/auction.ts'
import { newAuction, type NewAuctionInput } from '../../domain/new-auction.ts'
import { NotFoundError } from '../../errors.ts'
import { auctionCreated } from '../../events.ts'
import type { Principal } from '../../auth/tokens.ts'
import type { BidStore, EventsSince, ListQuery, Page } from '../../ports/bid-store.ts'
import type { Metrics } from '../../observability/metrics.ts'
import type { Publish } from '../events/publisher.ts'

export interface AuctionServiceDeps {
	store: BidStore
	publish: Publish
	metrics: Metrics
	now?: () => number
}

/** createAuctionService opens, finds and lists auctions; it knows nothing of HTTP. */
export function createAuctionService({ store, publish, metrics, now = Date.now }: AuctionServiceDeps) {
	return {
		async create(input: NewAuctionInput, seller: Principal): Promise<AuctionView> {
			const record = newAuction(input, seller.sub, now())
			const json = JSON.stringify(auctionCreated(record))
			const view = await store.createAuction(record, json)
			metrics.auctionsCreated.inc()
			publish(record.id, [json])
			return view
		},

		async get(id: string): Promise<AuctionView> {
			const view = await store.getAuction(id)
			if (!view) throw new NotFoundError('auction')
			return view
		},

		list(query: ListQuery): Promise<Page<AuctionView>> {
			return store.listAuctions(query)
		},

		async eventsSince(id: string, since: number): Promise<EventsSince> {
			const result = await store.eventsSince(id, since)
			if (!result) throw new NotFoundError('auction')
			return result
		},
	}
}

export type AuctionService = ReturnType<typeof createAuctionService>
