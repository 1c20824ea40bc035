import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

/**
 * What the archiver tells the process that exposes /metrics, once a second: from a Worker it
 * arrives as a message, in-process as a call. Counts are since the previous report.
 */
export interface ArchiverReport {
	/** Committed batches: [events in it, events new to the archive, seconds the write took]. */
	batches: Array<[size: number, written: number, seconds: number]>
	deadLetters: Record<string, number>
	writeFailures: number
	/** Events refused because another event holds their (auction, seq) (each also a `seq-conflict` dead letter). */
	seqConflicts: number
	/** Events published and not archived yet, and the age of the oldest of them. */
	lagEvents: number
	lagSeconds: number
	/** Whether the last write (or connection attempt) worked, and what failed if not. */
	healthy: boolean
	problem: string | null
	/** Whether the archive's migrations are applied (history and the id check at create need its tables). */
	migrated: boolean
}

/** The live sockets as the gauges show them: what they have queued and not sent, in bytes, and replays waiting. */
export interface LiveSample {
	/** Over all sockets. */
	sendBufferBytes: number
	/** The fullest socket's. */
	sendBufferMaxBytes: number
	replaysWaiting: number
}

/**
 * createMetrics builds one Prometheus registry per process (not prom-client's global one, so
 * tests can run several apps side by side). Label children on the hot path are cached.
 */
/** Why the archiver dead-letters (workers/archiver/run.ts, decode.ts). */
export const DEAD_LETTER_REASONS = ['undecodable', 'invalid', 'rejected', 'seq-conflict', 'max-deliveries'] as const

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
	// Sampled when /metrics is scraped (the live hub registers the sampler): nothing on the fan-out path.
	let liveSampler: () => LiveSample = () => ({ sendBufferBytes: 0, sendBufferMaxBytes: 0, replaysWaiting: 0 })
	new Gauge({
		name: 'gavel_ws_send_buffer_bytes',
		help: 'Bytes queued to /live WebSockets and not yet taken by the kernel, over all sockets (sampled at scrape)',
		registers,
		collect() {
			this.set(liveSampler().sendBufferBytes)
		},
	})
	new Gauge({
		name: 'gavel_ws_send_buffer_max_bytes',
		help: 'Bytes queued to the fullest /live WebSocket (sampled at scrape); LIVE_SEND_BUFFER_BYTES bounds it',
		registers,
		collect() {
			this.set(liveSampler().sendBufferMaxBytes)
		},
	})
	new Gauge({
		name: 'gavel_ws_replays_waiting',
		help: 'WebSockets whose replay did not fit in their send buffer and waits for them to read (sampled at scrape)',
		registers,
		collect() {
			this.set(liveSampler().replaysWaiting)
		},
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
	const liveFilled = new Counter({
		name: 'gavel_live_filled_events_total',
		help: 'Events the live hub read from the store because the bus had not brought them in order (an outage, a reordering, a lost delivery)',
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
	const unreplicatedWrites = new Counter({
		name: 'gavel_redis_unreplicated_writes_total',
		help: 'Store writes answered although fewer Redis replicas than REDIS_WAIT_REPLICAS held them within REDIS_WAIT_TIMEOUT_MS',
		registers,
	})
	const storeRebuilds = new Counter({
		name: 'gavel_store_rebuilds_total',
		help: 'Rebuilds of the store from the archive because it had lost its epoch (a Redis restarted empty or flushed), by result (rebuilt, failed)',
		labelNames: ['result'] as const,
		registers,
	})
	// Both series from the start, at 0: a collector that turns counters into deltas (the AWS stack's)
	// takes a series' first value as its baseline, and would drop the first rebuild of a task.
	for (const result of ['rebuilt', 'failed']) storeRebuilds.labels(result).inc(0)
	const storeRebuilding = new Gauge({
		name: 'gavel_store_rebuilding',
		help: '1 while this process rebuilds the store from the archive (auctions not back yet answer 503)',
		registers,
	})
	const auctionsCreated = new Counter({ name: 'gavel_auctions_created_total', help: 'Auctions created', registers })
	const auctionsClosed = new Counter({ name: 'gavel_auctions_closed_total', help: 'Auctions this process closed', registers })

	const archived = new Counter({ name: 'gavel_archive_events_total', help: 'Events newly written to the archive', registers })
	const batchSize = new Histogram({
		name: 'gavel_archive_batch_size',
		help: 'Events per archive write (one statement each)',
		buckets: [1, 10, 50, 100, 250, 500, 1_000, 2_000, 5_000],
		registers,
	})
	const insertDuration = new Histogram({
		name: 'gavel_archive_insert_duration_seconds',
		help: 'Time to write and commit one batch',
		buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
		registers,
	})
	const lagEvents = new Gauge({ name: 'gavel_archive_lag_events', help: 'Events on the bus not archived yet', registers })
	const lagSeconds = new Gauge({ name: 'gavel_archive_lag_seconds', help: 'Age of the oldest event not archived yet', registers })
	const deadLetters = new Counter({
		name: 'gavel_archive_dead_letters_total',
		help: `Events sent to the dead-letter stream, by reason (${DEAD_LETTER_REASONS.join(', ')})`,
		labelNames: ['reason'] as const,
		registers,
	})
	// Every reason at 0 from the start, as the rebuild counter: a delta-converting collector (the
	// AWS stack's) takes a series' first value as its baseline and would drop the first dead letter.
	for (const reason of DEAD_LETTER_REASONS) deadLetters.labels(reason).inc(0)
	const writeFailures = new Counter({
		name: 'gavel_archive_write_failures_total',
		help: 'Archive writes that failed and will be retried (database unavailable)',
		registers,
	})
	const seqConflicts = new Counter({
		name: 'gavel_archive_seq_conflicts_total',
		help: 'Events not archived because another event id already holds their (auction, seq): a store handed a seq out twice (dead-lettered as seq-conflict)',
		registers,
	})
	const archiveUp = new Gauge({ name: 'gavel_archive_up', help: '1 while the archiver can write, 0 while it retries', registers })
	const repaired = new Counter({
		name: 'gavel_archive_repaired_events_total',
		help: 'Events crash repair wrote into the archive from the store because the archive lacked them',
		registers,
	})
	const unrepairable = new Counter({
		name: 'gavel_archive_unrepairable_events_total',
		help: 'Missing events crash repair could not find in the store any more (older than its kept window)',
		registers,
	})

	const bidChildren = new Map<string, { inc(): void }>()
	return {
		wsConnections,
		wsSubscriptions,
		liveAuctions,
		wsFramesSent,
		wsSlowConsumerCloses,
		wsErrorFrames,
		fanoutDelay,
		liveFilled,
		registry,
		bidDuration,
		publishFailures,
		publishesInFlight,
		unreplicatedWrites,
		storeRebuilds,
		storeRebuilding,
		auctionsCreated,
		auctionsClosed,
		repaired,
		unrepairable,
		/** sampleLive tells the live gauges how to measure the sockets (the live hub calls it). */
		sampleLive(sample: () => LiveSample) {
			liveSampler = sample
		},
		/** recordArchiverReport applies one archiver report (see ArchiverReport). */
		recordArchiverReport(report: ArchiverReport) {
			for (const [size, written, seconds] of report.batches) {
				batchSize.observe(size)
				insertDuration.observe(seconds)
				archived.inc(written)
			}
			for (const [reason, n] of Object.entries(report.deadLetters)) deadLetters.labels(reason).inc(n)
			if (report.writeFailures > 0) writeFailures.inc(report.writeFailures)
			if (report.seqConflicts > 0) seqConflicts.inc(report.seqConflicts)
			lagEvents.set(report.lagEvents)
			lagSeconds.set(report.lagSeconds)
			archiveUp.set(report.healthy ? 1 : 0)
		},
		countBid(outcome: 'accepted' | 'replayed' | 'rejected' | 'unknown', reason = '') {
			const key = `${outcome}\0${reason}`
			let child = bidChildren.get(key)
			if (!child) bidChildren.set(key, (child = bids.labels(outcome, reason)))
			child.inc()
		},
	}
}

export type Metrics = ReturnType<typeof createMetrics>
