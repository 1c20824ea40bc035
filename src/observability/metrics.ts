import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

/**
 * createMetrics builds one Prometheus registry per process (not prom-client's global one, so
 * tests can run several apps side by side). Label children on the hot path are cached.
 */
export function createMetrics() {
	const registry = new Registry()
	collectDefaultMetrics({ register: registry, prefix: 'gavel_' })
	// Heap-space statistics walk the whole heap in Bun (~20 ms a scrape, blocking every request):
	// too dear for a hot server. RSS, CPU, handles and event-loop lag stay.
	for (const name of ['nodejs_heap_space_size_total_bytes', 'nodejs_heap_space_size_used_bytes', 'nodejs_heap_space_size_available_bytes'])
		registry.removeSingleMetric(`gavel_${name}`)
	const registers = [registry]
	const bids = new Counter({
		name: 'gavel_bids_total',
		help: 'Bids by outcome (accepted, replayed, rejected) and reason (the error code for rejections)',
		labelNames: ['outcome', 'reason'] as const,
		registers,
	})
	const bidDuration = new Histogram({
		name: 'gavel_bid_duration_seconds',
		help: 'Time to decide a bid, from the store call to its answer',
		buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
		registers,
	})
	const publishFailures = new Counter({
		name: 'gavel_bus_publish_failures_total',
		help: 'Events the bus gave up publishing (left to crash repair)',
		registers,
	})
	const publishesInFlight = new Gauge({
		name: 'gavel_bus_publishes_in_flight',
		help: 'Events handed to the bus and not yet acknowledged',
		registers,
	})
	const auctionsCreated = new Counter({ name: 'gavel_auctions_created_total', help: 'Auctions created', registers })
	const auctionsClosed = new Counter({ name: 'gavel_auctions_closed_total', help: 'Auctions this process closed', registers })

	const bidChildren = new Map<string, { inc(): void }>()
	return {
		registry,
		bidDuration,
		publishFailures,
		publishesInFlight,
		auctionsCreated,
		auctionsClosed,
		countBid(outcome: 'accepted' | 'replayed' | 'rejected', reason = '') {
			const key = `${outcome}\0${reason}`
			let child = bidChildren.get(key)
			if (!child) bidChildren.set(key, (child = bids.labels(outcome, reason)))
			child.inc()
		},
	}
}

export type Metrics = ReturnType<typeof createMetrics>
