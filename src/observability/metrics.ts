import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

/**
 * createMetrics builds one Prometheus registry per process (not prom-client's global one, so
 * tests can run several apps side by side). Label children on the hot path are cached.
 */
export function createMetrics() {
	const registry = new Registry()
	collectDefaultMetrics({ register: registry, prefix: 'gavel_process_' })
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
	const wsConnections = new Gauge({ name: 'gavel_ws_connections', help: 'Open WebSocket connections on /live', registers })
	const wsSubscriptions = new Gauge({
		name: 'gavel_ws_subscriptions',
		help: 'Auction subscriptions over all open WebSockets (syncing or live)',
		registers,
	})
	const liveAuctions = new Gauge({
		name: 'gavel_live_auctions',
		help: 'Auctions this instance takes from the bus because they have local watchers',
		registers,
	})
	const wsFramesSent = new Counter({
		name: 'gavel_ws_frames_sent_total',
		help: 'Frames handed to WebSockets: events fanned out (one per live watcher), replays, control and error frames',
		registers,
	})
	const wsSlowConsumerCloses = new Counter({
		name: 'gavel_ws_slow_consumer_closes_total',
		help: 'WebSockets closed with 4008 because their send buffer went over LIVE_SEND_BUFFER_BYTES',
		registers,
	})
	const wsErrorFrames = new Counter({
		name: 'gavel_ws_error_frames_total',
		help: 'Error frames sent to WebSocket clients, by code',
		labelNames: ['code'] as const,
		registers,
	})
	const fanoutDelay = new Histogram({
		name: 'gavel_live_fanout_delay_seconds',
		help: "From an event's `at` (its commit on the api instance) to its hand-over to the WebSocket topic here",
		buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
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

	const bidChildren = new Map<string, { inc(): void }>()
	return {
		wsConnections,
		wsSubscriptions,
		liveAuctions,
		wsFramesSent,
		wsSlowConsumerCloses,
		wsErrorFrames,
		fanoutDelay,
		registry,
		bidDuration,
		publishFailures,
		publishesInFlight,
		auctionsCreated,
		countBid(outcome: 'accepted' | 'replayed' | 'rejected', reason = '') {
			const key = `${outcome}\0${reason}`
			let child = bidChildren.get(key)
			if (!child) bidChildren.set(key, (child = bids.labels(outcome, reason)))
			child.inc()
		},
	}
}

export type Metrics = ReturnType<typeof createMetrics>
