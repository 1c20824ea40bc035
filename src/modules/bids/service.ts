import { AppError, NotFoundError, OutcomeUnknownError, RateLimitedError, RebuildingError } from '../../errors.ts'
import { DEFAULT_DURABLE_WAIT_MS } from '../../config.ts'
import { durable } from '../events/durable.ts'
import type { RateLimiter } from '../limits/rate-limiter.ts'
import type { BidStore, PlaceBidRequest, PlacedBid } from '../../ports/bid-store.ts'
import type { Metrics } from '../../observability/metrics.ts'
import type { Publish } from '../events/publisher.ts'

export interface BidServiceDeps {
	store: BidStore
	publish: Publish
	metrics: Metrics
	/** Per-bidder limiter, checked before the rules (docs/design.md §2 rule 9). */
	limiter: RateLimiter
	/** How long an answer waits for its commit to be durable in the log (DURABLE_WAIT_MS). */
	durableWaitMs?: number
	/** Whether the store is being rebuilt: an auction it does not know may be on its way back. */
	rebuilding?: { lost(): Promise<boolean> }
}

/**
 * createBidService is the hot path: one store call (one Lua round trip in Redis), then the
 * commit (its events and its state record) goes to the bus, and the 201 waits until the log holds
 * it (docs/design.md §6). It counts bids in flight so shutdown can drain them.
 */
export function createBidService({ store, publish, metrics, limiter, durableWaitMs = DEFAULT_DURABLE_WAIT_MS, rebuilding }: BidServiceDeps) {
	let inFlight = 0
	let idle: (() => void) | null = null

	return {
		async place(request: PlaceBidRequest): Promise<PlacedBid> {
			inFlight++
			const started = performance.now()
			try {
				const wait = limiter.take(request.bidder)
				if (wait > 0) throw new RateLimitedError(wait)
				const placed = await store.placeBid(request)
				if (placed.events.length > 0 || placed.state !== null)
					await durable(publish(request.auction, placed.events, placed.state), durableWaitMs, 'the bid')
				metrics.countBid(placed.replayed ? 'replayed' : 'accepted')
				return placed
			} catch (caught) {
				// Not found while the store is being rebuilt: it may be on its way back (503, never 404).
				const err = caught instanceof NotFoundError && rebuilding && (await rebuilding.lost()) ? new RebuildingError() : caught
				if (err instanceof OutcomeUnknownError) metrics.countBid('unknown', err.code)
				else metrics.countBid('rejected', err instanceof AppError ? err.code : 'INTERNAL')
				throw err
			} finally {
				metrics.bidDuration.observe((performance.now() - started) / 1000)
				if (--inFlight === 0 && idle) idle()
			}
		},

		/** drain resolves when no bid is being decided (after the server stopped taking new ones). */
		drain(): Promise<void> {
			if (inFlight === 0) return Promise.resolve()
			return new Promise((resolve) => {
				idle = () => {
					idle = null
					resolve()
				}
			})
		},
	}
}

export type BidService = ReturnType<typeof createBidService>
