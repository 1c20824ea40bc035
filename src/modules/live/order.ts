import type { Server } from 'bun'
import type { BidStore, EventsSince } from '../../ports/bid-store.ts'
import { atOf, seqOf, type EventPayload } from '../../ports/event-bus.ts'
import type { Logger } from '../../observability/log.ts'
import type { Metrics } from '../../observability/metrics.ts'
import { headFrame } from './model.ts'
import type { LiveConnection, Sockets } from './sockets.ts'
import type { Watched } from './topics.ts'

/**
 * How long an event that came early waits for the ones before it before the hub reads them from
 * the store: enough for a reordering between api instances or an event still in flight to sort
 * itself out without a read, too little for a watcher to notice.
 */
const DEFAULT_GAP_WAIT_MS = 250
/** Early events held per auction; past it they are let go and read from the store with the gap. */
const MAX_HELD = 1024
/** Store reads in a row that do not close a gap before the hub gives up on it (the store lost events). */
const MAX_FUTILE_FILLS = 3
/** The topic's position until the store's seq has been read: no event is next after it, none below it. */
export const UNKNOWN = -2

export interface TopicOrderDeps {
	store: BidStore
	metrics: Metrics
	log: Logger
	/** A fan-out under backpressure sweeps the sockets (at once when Bun dropped a frame). */
	sockets: Pick<Sockets, 'sweep' | 'scheduleSweep'>
	/** How long a gap waits for the bus before it is read from the store (LiveHubDeps.gapWaitMs). */
	gapWaitMs: number | undefined
	/** Whether the topic is still the one its auction has here: a store read that returns after it was let go is dropped. */
	isCurrent(w: Watched): boolean
	/** Runs when the topic has moved and watchers are catching up to it: those it reached join. */
	admit(w: Watched): void
}

const decoder = new TextDecoder()

/**
 * createTopicOrder sends each topic every event once and in seq order, from wherever it comes:
 * the next one goes out at once with one `server.publish` (the hot path: no per-socket work), a
 * repeat is dropped, and one that comes early (a reordering, a delivery lost in a bus outage)
 * is held until the ones before it arrive or, after `gapWaitMs`, are read from the store. A gap
 * older than the store keeps restarts the topic with a `reset`; one the store cannot fill at all
 * is skipped, loudly.
 */
export function createTopicOrder({ store, metrics, log, sockets, gapWaitMs = DEFAULT_GAP_WAIT_MS, isCurrent, admit }: TopicOrderDeps) {
	let server: Server<LiveConnection> | null = null

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

	// ---- gaps: what the bus did not bring in order, read from the store -------------------------

	/** armGap reads the gap from the store after `ms` unless a read is due or out already. */
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
		if (w.top === UNKNOWN || !isCurrent(w) || (!w.refill && w.wanted <= w.top)) return Promise.resolve()
		w.refill = false
		const from = w.top
		const filling = (async () => {
			let retryMs = gapWaitMs
			try {
				const result = await store.eventsSince(w.auction, from)
				if (!isCurrent(w)) return
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
				if (isCurrent(w) && (w.refill || w.wanted > w.top)) armGap(w, w.refill ? 0 : retryMs)
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

	return {
		begin,
		fanOut,
		fill,
		armGap,
		/** useServer gives the topics the Bun server to publish on (the first upgrade's: there is one). */
		useServer(bunServer: Server<LiveConnection>) {
			server ??= bunServer
		},
	}
}
