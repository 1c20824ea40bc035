import type { EventBus } from '../../ports/event-bus.ts'
import { auctionTopic } from './model.ts'
import { createTopicOrder, UNKNOWN, type TopicOrderDeps } from './order.ts'
import type { Sync } from './sync.ts'

/** After a bus reconnect every watched auction is read again, this many at a time. */
const REFILL_CONCURRENCY = 8

/** One auction this instance takes from the bus because it has local watchers. */
export interface Watched {
	auction: string
	topic: string
	/** Local watchers in any phase; the bus subscription ends when this reaches 0. */
	count: number
	/** Local watchers on the topic: the audience of a fan-out. */
	joined: number
	/** Resolves once the bus delivers this auction's events here and `top` is known. */
	ready: Promise<void>
	stop(): void
	// The topic's order (order.ts).
	/**
	 * The topic's position: every event up to this seq went to the topic, once and in order, and
	 * none after it (UNKNOWN until the store's seq is read; -1 before an auction's first event).
	 * Only sending the next event moves it, so it is exactly what the joined watchers have.
	 */
	top: number
	/** Events that came before the ones below them, by seq, until the gap is filled; null when none. */
	held: Map<number, string> | null
	/** The highest seq known to exist (held, or read by a sync): above `top` it is a gap to fill. */
	wanted: number
	gapTimer: ReturnType<typeof setTimeout> | null
	/** The store read filling the gap, while it is out. */
	filling: Promise<void> | null
	/** The bus reconnected: read after `top` even with no gap in sight (deliveries may be missing). */
	refill: boolean
	/** Store reads in a row that left the gap open. */
	futile: number
	// The syncs' part (sync.ts): watchers on their way to the topic, which moves them along.
	/** Watchers whose store read is in flight. */
	reading: Set<Sync>
	/** What the topic got while any watcher was reading, in seq order; null when none is. */
	backlog: string[] | null
	/** Synced watchers ahead of `top`, waiting for the topic to reach their seq before they join it. */
	catching: Set<Sync>
}

export interface TopicsDeps extends Omit<TopicOrderDeps, 'isCurrent'> {
	bus: EventBus
}

export type Topics = ReturnType<typeof createTopics>

/**
 * createTopics keeps one Bun topic per auction watched here, fed from the bus: it subscribes to
 * the bus for an auction on its first local watcher and unsubscribes after the last. Where a
 * topic starts is the store's seq, read once the bus delivers the auction here; from there
 * order.ts keeps it in seq order. After a bus reconnect every watched auction is read again
 * from what its topic last sent.
 */
export function createTopics({ bus, ...deps }: TopicsDeps) {
	const { store, metrics } = deps
	const watched = new Map<string, Watched>()
	const { begin, fanOut, fill, armGap, useServer } = createTopicOrder({ ...deps, isCurrent: (w) => watched.get(w.auction) === w })

	// ---- bus side: one subscription per locally watched auction -------------------------------

	const acquire = (auction: string): Watched => {
		let w = watched.get(auction)
		if (!w) {
			const entry: Watched = {
				auction,
				topic: auctionTopic(auction),
				count: 0,
				joined: 0,
				ready: Promise.resolve(),
				stop: () => {},
				top: UNKNOWN,
				held: null,
				wanted: -1,
				gapTimer: null,
				filling: null,
				refill: false,
				futile: 0,
				reading: new Set(),
				backlog: null,
				catching: new Set(),
			}
			entry.stop = bus.subscribe(auction, (payload) => fanOut(entry, payload))
			entry.ready = whenDelivering(entry)
			watched.set(auction, (w = entry))
			metrics.liveAuctions.inc()
		}
		w.count++
		return w
	}

	const release = (w: Watched) => {
		if (--w.count > 0) return
		leaveBus(w)
		if (watched.get(w.auction) === w) watched.delete(w.auction)
		metrics.liveAuctions.dec()
	}

	/** leaveBus ends the auction's bus subscription and its wait for a gap: nothing reaches the topic any more. */
	const leaveBus = (w: Watched) => {
		w.stop()
		if (w.gapTimer !== null) clearTimeout(w.gapTimer)
	}

	// A bus ping is a round trip behind the subscribe (NATS: SUB, then PING/PONG), so once it
	// answers, every event published afterwards reaches us: the store's seq read after it is where
	// the topic starts. Failures surface in the sync.
	const whenDelivering = (w: Watched) => {
		const ready = (async () => {
			await bus.ping()
			if (w.top !== UNKNOWN) return
			const [seq] = await store.seqs([w.auction])
			if (w.top === UNKNOWN) begin(w, seq ?? -1)
		})()
		ready.catch(() => {})
		return ready
	}

	/** refillAll runs when the bus reconnects: deliveries in between are missing, so every watched auction reads what came after its topic's last event. */
	const refillAll = async () => {
		const queue = [...watched.values()].filter((w) => w.top !== UNKNOWN)
		for (const w of queue) w.refill = true
		const worker = async () => {
			for (let w = queue.shift(); w !== undefined; w = queue.shift()) await fill(w)
		}
		await Promise.all(Array.from({ length: REFILL_CONCURRENCY }, worker))
	}
	const stopResume = bus.onResume(() => void refillAll())

	return {
		get: (auction: string) => watched.get(auction),
		acquire,
		release,
		fanOut,
		whenDelivering,
		armGap,
		useServer,
		size: () => watched.size,
		/** close leaves the bus: no more deliveries, reconnect re-reads or gap reads. */
		close() {
			stopResume()
			for (const w of watched.values()) leaveBus(w)
			watched.clear()
		},
	}
}
