import { NotFoundError, UnavailableError, type AppError } from '../../errors.ts'
import type { BidStore, EventsSince } from '../../ports/bid-store.ts'
import { seqOf } from '../../ports/event-bus.ts'
import type { Logger } from '../../observability/log.ts'
import type { LiveLimits } from './hub.ts'
import { headFrame } from './model.ts'
import type { LiveSocket, Sockets } from './sockets.ts'
import type { Topics, Watched } from './topics.ts'

/**
 * A subscription on its way to the topic. A socket's syncs queue up (`LiveConnection.syncs`)
 * and only the first one works, so a socket has at most one store read out however many
 * subscribes it sends. Phases: `queued`; `reading` (store read in flight, the topic's events
 * pile up in the auction's backlog); `waiting` (the replay did not fit in the socket's replay
 * share: the rest waits for the socket to read, then is read again from the store after the
 * last seq sent); then, off the queue, `catching` (its read is ahead of the topic, an event
 * still in flight: it joins once the topic has sent `seq`, so that event is neither lost nor
 * sent twice), and finally the topic.
 */
export interface Sync {
	ws: LiveSocket
	w: Watched
	phase: 'queued' | 'reading' | 'waiting' | 'catching'
	/** Where the next read starts: the last seq the watcher has (undefined: from now, the state only). */
	since: number | undefined
	/** Whether the head frame (`subscribed`) is still to be sent: first, and after a re-subscribe. */
	head: boolean
	/** The socket left the auction while the read was in flight: the result is thrown away. */
	cancelled: boolean
	/** The socket subscribed again while the read was in flight: read again, from the new `since`. */
	stale: boolean
	/** Where its share of the backlog begins. */
	from: number
	/** The seq the watcher has (while catching up). */
	seq: number
}

export interface SyncsDeps {
	store: BidStore
	log: Logger
	limits: Pick<LiveLimits, 'sendBufferBytes'>
	sockets: Sockets
	topics: Pick<Topics, 'whenDelivering' | 'armGap'>
	/** Ends a subscription whose sync cannot finish (no such auction, the store or bus unavailable) with `err`. */
	refuse(ws: LiveSocket, auction: string, err: AppError): void
	/** Whether the store is being rebuilt: an auction it does not know may be on its way back. */
	rebuilding?: { lost(): Promise<boolean> }
}

export type Syncs = ReturnType<typeof createSyncs>

/**
 * createSyncs brings new watchers to their auction's topic without loss or duplicates: the bus
 * subscription is ready first, the store read (state + events after `since`) follows, and what
 * the topic sends meanwhile waits in a backlog; the replay, the backlog after the read's seq
 * and the topic subscription then happen in one synchronous step, so no event can slip in
 * between. A replay that does not fit in the socket's share of its send buffer is sent in
 * pieces as the socket reads, each piece read afresh from the store. A read ahead of the topic
 * (its last event still in flight here) joins once the topic has sent that event.
 */
export function createSyncs({ store, log, limits, sockets, topics, refuse, rebuilding }: SyncsDeps) {
	/** Sockets whose first sync waits for room in their send buffer. */
	const waiting = new Set<LiveSocket>()
	/** What a replay may fill of a socket's send buffer; the rest is room for live events. */
	const replayBytes = Math.floor(limits.sendBufferBytes / 2)

	const doneReading = (w: Watched, sync: Sync) => {
		w.reading.delete(sync)
		if (w.reading.size === 0) w.backlog = null
	}

	/** enqueue puts a new subscription in its socket's queue; it reads at once if it is the only one. */
	const enqueue = (ws: LiveSocket, w: Watched, since: number | undefined) => {
		const sync: Sync = { ws, w, phase: 'queued', since, head: true, cancelled: false, stale: false, from: 0, seq: -1 }
		const queue = (ws.data.syncs ??= [])
		queue.push(sync)
		if (queue.length === 1) startRead(sync)
	}

	const startRead = (sync: Sync) => {
		const { ws, w } = sync
		sync.phase = 'queued'
		if (!sockets.has(ws)) return // closed: its `close` empties the queue
		sync.phase = 'reading'
		sync.stale = false
		w.backlog ??= []
		sync.from = w.backlog.length
		w.reading.add(sync)
		void runSync(sync)
	}

	/** advance takes a finished (or left) first sync off its socket's queue and starts the next. */
	const advance = (sync: Sync) => {
		const queue = sync.ws.data.syncs
		if (queue === null || queue[0] !== sync) return
		queue.shift()
		if (queue.length === 0) sync.ws.data.syncs = null
		else startRead(queue[0]!)
	}

	const resume = (ws: LiveSocket) => {
		waiting.delete(ws)
		const sync = ws.data.syncs?.[0]
		if (sync !== undefined && sync.phase === 'waiting') startRead(sync)
	}

	/**
	 * wait parks a replay that did not fit: it goes on from `since` when the socket drains (or
	 * the sweep finds room). Nothing is kept but the seq: the rest is read again then.
	 */
	const wait = (sync: Sync, since: number | undefined, head: boolean) => {
		sync.since = since
		sync.head = head
		sync.phase = 'waiting'
		// Nothing queued (the kernel took it all): no drain will come, and there is room now.
		if (sync.ws.getBufferedAmount() === 0) return startRead(sync)
		waiting.add(sync.ws)
	}

	/** leave takes a socket off an auction's stream, whatever phase its subscription is in. */
	const leave = (ws: LiveSocket, w: Watched) => {
		const queue = ws.data.syncs
		const i = queue === null ? -1 : queue.findIndex((s) => s.w === w && !s.cancelled)
		if (i >= 0) {
			const sync = queue![i]!
			if (sync.phase === 'reading') {
				// It stays first in the queue until its read returns: never two reads out per socket.
				sync.cancelled = true
				doneReading(w, sync)
			} else if (i > 0) queue!.splice(i, 1)
			else {
				waiting.delete(ws)
				advance(sync)
			}
			return
		}
		for (const sync of w.catching)
			if (sync.ws === ws) {
				w.catching.delete(sync)
				return
			}
		w.joined--
		if (ws.readyState === 1) ws.unsubscribe(w.topic)
	}

	/**
	 * resubscribe re-syncs a watched auction from a new `since` (the watch client fills gaps this
	 * way) for the price of one sync however often it comes: a sync still on its way takes the
	 * new `since` (a read in flight is done once more), a live watcher leaves the topic and queues.
	 */
	const resubscribe = (ws: LiveSocket, w: Watched, since: number | undefined) => {
		const pending = ws.data.syncs?.find((s) => s.w === w && !s.cancelled)
		if (pending === undefined) {
			leave(ws, w)
			return enqueue(ws, w, since)
		}
		const unchanged = pending.head && pending.since === since
		pending.since = since
		pending.head = true
		if (pending.phase === 'reading' && !unchanged) pending.stale = true
	}

	const read = async (auction: string, since: number | undefined): Promise<EventsSince | null> => {
		if (since !== undefined) return store.eventsSince(auction, since)
		const state = await store.getAuction(auction)
		return state && { reset: false, items: [], seq: state.seq, auction: state }
	}

	const runSync = async (sync: Sync) => {
		const { ws, w } = sync
		let result: EventsSince | null = null
		let failure: unknown = null
		try {
			await w.ready
			if (!sync.cancelled) result = await read(w.auction, sync.since)
		} catch (err) {
			failure = err
		}
		// A replay that may not fit is sent on a turn of its own: inside a socket callback (a
		// subscribe answered from memory, a drain) Bun holds what is sent in a cork buffer it does
		// not count as queued, and the replay share is measured by what is queued. Events arriving
		// meanwhile go to the backlog as during the read. Small replays (most) need no extra turn.
		if (result !== null && !result.reset && ws.getBufferedAmount() + byteLength(result.items) > replayBytes / 2) await nextTurn()
		if (sync.cancelled) return advance(sync) // `leave` already took it out of the reading set
		const backlog = w.backlog!.slice(sync.from)
		doneReading(w, sync)
		sync.phase = 'queued'
		if (sync.stale) return startRead(sync)
		if (failure !== null) {
			log.warn({ err: failure, auction: w.auction }, 'subscribe failed: store or bus unavailable')
			w.ready = topics.whenDelivering(w) // the next subscribe checks the bus (and the topic's start) again
			return refuse(ws, w.auction, new UnavailableError('the auction cannot be read right now; subscribe again'))
		}
		// Unknown, or not back yet: while the store is rebuilt from the log the answer is UNAVAILABLE
		// (subscribe again), never NOT_FOUND, which ends a watch() for good.
		if (result === null) {
			if (!rebuilding) return refuse(ws, w.auction, new NotFoundError('auction'))
			void rebuilding.lost().then(
				(lost) => refuse(ws, w.auction, lost ? new UnavailableError('the auction is being rebuilt from the log; subscribe again') : new NotFoundError('auction')),
				() => refuse(ws, w.auction, new NotFoundError('auction')),
			)
			return
		}
		deliver(sync, result, backlog)
	}

	/**
	 * deliver is the synchronous step after a read: head frame, replay, what the topic sent since
	 * the read's seq, then the topic; or, when the read is ahead of the topic (an event committed
	 * before the read is still on its way here), the topic once it has sent that event. What does
	 * not fit in the replay share waits for the socket to read (`wait`).
	 */
	const deliver = (sync: Sync, result: EventsSince, backlog: string[]) => {
		const { ws, w } = sync
		const state = result.auction
		if (state.seq > w.wanted) w.wanted = state.seq
		const items = result.reset ? [] : result.items
		const withHead = sync.head || result.reset
		const frames = withHead ? [headFrame(result.reset ? 'reset' : 'subscribed', w.auction, state), ...items] : items
		const sent = sockets.sendWithin(ws, frames, replayBytes)
		if (sent < 0) return
		if (sent < frames.length) {
			if (withHead && sent === 0) return wait(sync, sync.since, true)
			// Events are stored densely from `since` on, so the last one sent says where to go on.
			return wait(sync, sent > (withHead ? 1 : 0) ? seqOf(frames[sent - 1]!) : sync.since, false)
		}
		// The client now has everything up to the read's seq. What the topic sent after it (in
		// order, since the read started) brings it to the topic's position; it goes whole or not
		// at all, and the store has it in order for the next piece.
		const later = newerThan(backlog, state.seq)
		if (later.length > 0 && !fitsWhole(ws, later)) return wait(sync, state.seq, false)
		if (!sockets.sendAll(ws, later)) return
		const has = later.length > 0 ? seqOf(later[later.length - 1]!) : state.seq
		// The topic restarted past the read meanwhile (a reset): read what is missing.
		if (has < w.top) return wait(sync, has, false)
		sync.head = false
		advance(sync)
		if (has === w.top) return join(w, sync)
		// Ahead of the topic (`later` is empty): join once it has sent `has`, from the bus or the store.
		sync.phase = 'catching'
		sync.seq = has
		w.catching.add(sync)
		topics.armGap(w)
	}

	const fitsWhole = (ws: LiveSocket, frames: string[]) => ws.getBufferedAmount() + byteLength(frames) <= replayBytes

	// ---- catching up: a read ahead of the topic joins it once the topic gets there ------------

	/** admit lets the catching watchers that the topic has reached join it. */
	const admit = (w: Watched) => {
		for (const sync of w.catching) {
			if (sync.seq === w.top) join(w, sync)
			else if (sync.seq < w.top) {
				// The topic jumped past it (a reset, a gap given up on): sync it again from what it has.
				w.catching.delete(sync)
				enqueue(sync.ws, w, sync.seq)
			}
		}
	}

	const join = (w: Watched, sync: Sync) => {
		w.catching.delete(sync)
		w.joined++ // counted even for a socket closing right now: its `close` takes it off again
		if (sync.ws.readyState === 1) sync.ws.subscribe(w.topic)
	}

	return {
		enqueue,
		resubscribe,
		leave,
		admit,
		/** drained: the socket has sent everything (Bun's `drain`), room for its waiting replay. */
		drained(ws: LiveSocket) {
			if (waiting.has(ws)) resume(ws)
		},
		/** afterSweep lets the waiting replays go on where their socket has read enough. */
		afterSweep() {
			// Bun calls `drain` only once a socket has sent everything: live events can keep one from
			// getting there while it reads well enough for its replay to go on.
			for (const ws of waiting) if (ws.getBufferedAmount() <= replayBytes / 2) resume(ws)
		},
		/** forget drops a closed socket from the waiting ones. */
		forget(ws: LiveSocket) {
			waiting.delete(ws)
		},
		/** How many sockets' replays wait for them to read (for /metrics). */
		waitingCount: () => waiting.size,
	}
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

const byteLength = (frames: string[]) => {
	let bytes = 0
	for (const frame of frames) bytes += Buffer.byteLength(frame)
	return bytes
}

/** newerThan returns the backlog events after `seq` (the backlog is what the topic got: in order, each once). */
function newerThan(backlog: string[], seq: number): string[] {
	let i = backlog.length
	while (i > 0 && seqOf(backlog[i - 1]!) > seq) i--
	return backlog.slice(i)
}
