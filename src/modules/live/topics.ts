import type { Server } from 'bun'
import type { BidStore, EventsSince } from '../../ports/bid-store.ts'
import { atOf, seqOf, type EventBus, type EventPayload } from '../../ports/event-bus.ts'
import type { Logger } from '../../observability/log.ts'
import type { Metrics } from '../../observability/metrics.ts'
import { auctionTopic, headFrame } from './model.ts'
import type { LiveConnection, Sockets } from './sockets.ts'
import type { Sync } from './hub.ts'

/**
 * How long an event that came early waits for the ones before it before the hub reads them from
 * the store: enough for a reordering between api instances or an event still in flight to sort
 * itself out without a read, too little for a watcher to notice.
 */
const DEFAULT_GAP_WAIT_MS = 250
/** After a bus reconnect every watched auction is read again, this many at a time. */
const REFILL_CONCURRENCY = 8
/** Early events held per auction; past it they are let go and read from the store with the gap. */
const MAX_HELD = 1024
/** Store reads in a row that do not close a gap before the hub gives up on it (the store lost events). */
const MAX_FUTILE_FILLS = 3
/** The topic's position until the store's seq has been read: no event is next after it, none below it. */
const UNKNOWN = -2

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

export interface TopicsDeps {
	store: BidStore
	bus: EventBus
	metrics: Metrics
	log: Logger
	/** A fan-out under backpressure sweeps the sockets (at once when Bun dropped a frame). */
	sockets: Pick<Sockets, 'sweep' | 'scheduleSweep'>
	/** How long a gap waits for the bus before it is read from the store (LiveHubDeps.gapWaitMs). */
	gapWaitMs?: number
	/** Runs when the topic has moved and watchers are catching up to it: those it reached join. */
	admit(w: Watched): void
}

export type Topics = ReturnType<typeof createTopics>

const decoder = new TextDecoder()

/**
 * createTopics keeps one Bun topic per auction watched here, fed from the bus: it subscribes to
 * the bus on an auction's first local watcher and unsubscribes after the last, and hands each
 * event's bytes, unchanged, to the topic with `server.publish`: no per-socket work on the live
 * path. Each topic gets every event once and in seq order: the next one goes out at once, a
 * repeat is dropped, and one that comes early (a reordering, a delivery lost in a bus outage)
 * waits until the ones before it arrive or, after `gapWaitMs`, are read from the store. After a
 * bus reconnect every watched auction is read again from what its topic last sent.
 */
export function createTopics({ store, bus, metrics, log, sockets, gapWaitMs = DEFAULT_GAP_WAIT_MS, admit }: TopicsDeps) {
	const watched = new Map<string, Watched>()
	let server: Server<LiveConnection> | null = null

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
		w.stop()
		if (w.gapTimer !== null) clearTimeout(w.gapTimer)
		if (watched.get(w.auction) === w) watched.delete(w.auction)
		metrics.liveAuctions.dec()
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

	/** begin sets where the topic starts; what came before that is dropped, what came after goes out in order. */
	const begin = (w: Watched, seq: number) => {
		w.top = seq
		if (w.held !== null) flushHeld(w)
		if (w.wanted > w.top) armGap(w)
	}

	const fanOut = (w: Watched, payload: EventPayload) => {
		// One decode per event, not per socket: text frames, because browsers hand binary ones over as Blobs.
		const json = typeof payload === 'string' ? payload : decoder.decode(payload)
		offer(w, json, seqOf(json))
	}

	/**
	 * offer takes an event from anywhere (the bus, this process's publisher, a store read): the
	 * next one goes to the topic at once, a repeat (bus echo, retry, re-publish) is dropped, and
	 * one that came early waits for the ones before it.
	 */
	const offer = (w: Watched, json: string, seq: number) => {
		if (seq === w.top + 1) {
			emit(w, json, seq)
			if (w.held !== null) flushHeld(w)
		} else if (seq > w.top) hold(w, seq, json)
	}

	/** emit hands the next event to the topic: the hot path, one `server.publish` for every watcher. */
	const emit = (w: Watched, json: string, seq: number) => {
		w.top = seq
		if (w.backlog !== null) w.backlog.push(json)
		if (w.joined > 0 && server !== null) {
			const at = atOf(json)
			if (at > 0) metrics.fanoutDelay.observe(Math.max(0, Date.now() - at) / 1000)
			const sent = server.publish(w.topic, json, false)
			metrics.wsFramesSent.inc(w.joined)
			// 0: dropped for someone over Bun's limit (close them now); -1: someone is buffering.
			if (sent === 0) sockets.sweep()
			else if (sent < 0) sockets.scheduleSweep()
		}
		// After the topic publish, so a watcher that joins here does not get this event twice.
		if (w.catching.size > 0) admit(w)
	}

	const hold = (w: Watched, seq: number, json: string) => {
		const held = (w.held ??= new Map())
		// Past the cap the event is read from the store with the rest of the gap.
		if (held.size < MAX_HELD) held.set(seq, json)
		if (seq > w.wanted) w.wanted = seq
		armGap(w)
	}

	/** flushHeld sends the held events that are next in line and forgets those the topic already had. */
	const flushHeld = (w: Watched) => {
		const held = w.held!
		for (let json = held.get(w.top + 1); json !== undefined; json = held.get(w.top + 1)) {
			held.delete(w.top + 1)
			emit(w, json, w.top + 1)
		}
		for (const seq of held.keys()) if (seq <= w.top) held.delete(seq)
		if (held.size > 0) return
		w.held = null
		if (w.wanted <= w.top && w.gapTimer !== null && !w.refill) {
			clearTimeout(w.gapTimer)
			w.gapTimer = null
		}
	}

	/** admit lets the catching watchers that the topic has reached join it. */
	const armGap = (w: Watched, ms = gapWaitMs) => {
		if (w.gapTimer !== null || w.filling !== null) return // a fill looks again when it is done
		w.gapTimer = setTimeout(() => {
			w.gapTimer = null
			void fill(w)
		}, ms)
		w.gapTimer.unref?.()
	}

	/**
	 * fill reads the events after `top` from the store and sends them, then the held ones above
	 * them, in seq order: the gap the bus left closes without anything going out early. A store
	 * that answers with a reset (the gap is older than it keeps) restarts the topic from its state.
	 */
	const fill = (w: Watched): Promise<void> => {
		if (w.filling !== null) return w.filling
		if (w.top === UNKNOWN || watched.get(w.auction) !== w || (!w.refill && w.wanted <= w.top)) return Promise.resolve()
		w.refill = false
		const from = w.top
		const filling = (async () => {
			let retryMs = gapWaitMs
			try {
				const result = await store.eventsSince(w.auction, from)
				if (watched.get(w.auction) !== w) return
				if (result === null) return skipGap(w, 'the store no longer knows the auction')
				if (result.reset) return restart(w, result.auction)
				let filled = 0
				for (const json of result.items) {
					const seq = seqOf(json)
					if (seq > w.top) filled++
					offer(w, json, seq)
				}
				if (filled > 0) {
					metrics.liveFilled.inc(filled)
					log.debug({ auction: w.auction, after: from, events: filled }, 'sent events the bus had not brought, read from the store')
				}
				// Held events beyond what the store had then were committed after the read, or the store lost them.
				w.futile = w.wanted > w.top && filled === 0 ? w.futile + 1 : 0
				if (w.futile >= MAX_FUTILE_FILLS) skipGap(w, `the store does not have the events before seq ${w.wanted} that the bus brought`)
			} catch (err) {
				log.warn({ err, auction: w.auction }, 'reading the events the bus did not bring failed; trying again')
				retryMs = Math.max(gapWaitMs, 1_000)
			} finally {
				w.filling = null
				if (watched.get(w.auction) === w && (w.refill || w.wanted > w.top)) armGap(w, w.refill ? 0 : retryMs)
			}
		})()
		w.filling = filling
		return filling
	}

	/** restart: the events after `top` left the store's window. The topic's watchers get a `reset` and go on from the state. */
	const restart = (w: Watched, state: EventsSince['auction']) => {
		log.warn({ auction: w.auction, after: w.top, seq: state.seq }, 'events the bus did not bring are older than the store keeps; watchers get a reset')
		if (w.joined > 0 && server !== null) {
			server.publish(w.topic, headFrame('reset', w.auction, state), false)
			metrics.wsFramesSent.inc(w.joined)
		}
		w.top = Math.max(w.top, state.seq)
		w.futile = 0
		for (const sync of w.reading) sync.stale = true // their backlog lacks the jump: read again
		if (w.held !== null) flushHeld(w)
		admit(w)
	}

	/** skipGap sends the held events in order across a gap the store cannot fill, and says so. */
	const skipGap = (w: Watched, why: string) => {
		log.error({ auction: w.auction, after: w.top, upTo: w.wanted }, `${why}; sending the later events without the missing ones`)
		const held = w.held
		w.held = null
		w.futile = 0
		if (held !== null) for (const [seq, json] of [...held].sort((a, b) => a[0] - b[0])) if (seq > w.top) emit(w, json, seq)
		w.wanted = w.top
		admit(w)
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
		/** useServer gives the topics the Bun server to publish on (the first upgrade's: there is one). */
		useServer(bunServer: Server<LiveConnection>) {
			server ??= bunServer
		},
		size: () => watched.size,
		/** close leaves the bus: no more deliveries, reconnect re-reads or gap reads. */
		close() {
			stopResume()
			for (const w of watched.values()) {
				w.stop()
				if (w.gapTimer !== null) clearTimeout(w.gapTimer)
			}
			watched.clear()
		},
	}
}
