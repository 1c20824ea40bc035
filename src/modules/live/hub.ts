import type { Server } from 'bun'
import { AppError, NotFoundError, RateLimitedError, TooManySubscriptionsError, UnavailableError } from '../../errors.ts'
import type { BidStore, EventsSince } from '../../ports/bid-store.ts'
import { atOf, seqOf, type EventBus, type EventPayload } from '../../ports/event-bus.ts'
import type { Logger } from '../../observability/log.ts'
import type { Metrics } from '../../observability/metrics.ts'
import {
	auctionTopic,
	headFrame,
	parseClientOp,
	parseLiveQuery,
	UpgradeRequiredError,
	type SubscribeOp,
} from './model.ts'
import { createSockets, OPS_BURST, websocketSettings, type LiveConnection, type LiveSocket } from './sockets.ts'

export type { LiveConnection } from './sockets.ts'

export interface LiveLimits {
	/** Auctions one connection may watch at once. */
	maxSubscriptions: number
	/** Largest client frame; Bun closes the socket with 1009 above it. */
	maxFrameBytes: number
	/** Seconds without traffic before Bun closes a socket; it pings shortly before. */
	idleTimeoutS: number
	/**
	 * What one socket may have queued, live frames and replays alike: a replay fills at most
	 * half of it and waits for the socket to read; a socket over it is closed with 4008 (slow consumer).
	 */
	sendBufferBytes: number
	/** Open sockets per client address (0: no limit); one more is refused with 429 before the upgrade. */
	maxSocketsPerAddress: number
}

export interface LiveHubDeps {
	store: BidStore
	bus: EventBus
	metrics: Metrics
	log: Logger
	limits: LiveLimits
	/**
	 * How long an auction's stream waits for the bus to bring a missing event (delivered out of
	 * order, still in flight, or lost) before reading it from the store (tests shorten it).
	 */
	gapWaitMs?: number
}

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
interface Watched {
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
	/** Watchers whose store read is in flight. */
	reading: Set<Sync>
	/** What the topic got while any watcher was reading, in seq order; null when none is. */
	backlog: string[] | null
	/** Synced watchers ahead of `top`, waiting for the topic to reach their seq before they join it. */
	catching: Set<Sync>
}

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

const decoder = new TextDecoder()

/**
 * createLiveHub is the live role: it takes from the bus only the auctions that have watchers
 * here (subscribe on the first, unsubscribe after the last) and hands each event's bytes,
 * unchanged, to one Bun topic per auction with `server.publish`: no per-socket work on the
 * live path. Each topic gets every event once and in seq order: the next one goes out at once,
 * a repeat is dropped, and one that comes early (a reordering, a delivery lost in a bus outage)
 * waits until the ones before it arrive or, after `gapWaitMs`, are read from the store. After a
 * bus reconnect every watched auction is read again from what its topic last sent.
 *
 * A new watcher is synced without loss or duplicates: the bus subscription is ready first, the
 * store read (state + events after `since`) follows, and what the topic sends meanwhile waits
 * in a backlog; the replay, the backlog after the read's seq and the topic subscription then
 * happen in one synchronous step, so no event can slip in between. A replay that does not fit
 * in the socket's share of its send buffer is sent in pieces as the socket reads, each piece
 * read afresh from the store. A read ahead of the topic (its last event still in flight here)
 * joins once the topic has sent that event.
 */
export function createLiveHub({ store, bus, metrics, log: parentLog, limits, gapWaitMs = DEFAULT_GAP_WAIT_MS }: LiveHubDeps) {
	const log = parentLog.child({ component: 'live' })
	const watched = new Map<string, Watched>()
	/** Sockets whose first sync waits for room in their send buffer. */
	const waiting = new Set<LiveSocket>()
	/** What a replay may fill of a socket's send buffer; the rest is room for live events. */
	const replayBytes = Math.floor(limits.sendBufferBytes / 2)
	let server: Server<LiveConnection> | null = null
	const sockets = createSockets({
		metrics,
		log,
		limits,
		// Bun calls `drain` only once a socket has sent everything: live events can keep one from
		// getting there while it reads well enough for its replay to go on.
		onSweep: () => {
			for (const ws of waiting) if (ws.getBufferedAmount() <= replayBytes / 2) resume(ws)
		},
	})

	// For /metrics: one pass over the sockets per scrape, none per event.
	metrics.sampleLive(() => ({ ...sockets.sendBuffers(), replaysWaiting: waiting.size }))

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
		if (w.wanted > w.top) armGap(w, gapWaitMs)
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
		armGap(w, gapWaitMs)
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

	const armGap = (w: Watched, ms: number) => {
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

	const join = (w: Watched, sync: Sync) => {
		w.catching.delete(sync)
		w.joined++ // counted even for a socket closing right now: its `close` takes it off again
		if (sync.ws.readyState === 1) sync.ws.subscribe(w.topic)
	}

	// ---- watcher side ----------------------------------------------------------------------------

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

	/** drop ends one subscription of a socket: topic or sync, count, and the bus when it was the last. */
	const drop = (ws: LiveSocket, auction: string) => {
		const subs = ws.data.subs
		const i = subs?.indexOf(auction) ?? -1
		if (i < 0) return
		subs!.splice(i, 1)
		metrics.wsSubscriptions.dec()
		const w = watched.get(auction)
		if (!w) return
		leave(ws, w)
		release(w)
	}

	const subscribe = (ws: LiveSocket, { auction, since }: SubscribeOp) => {
		const subs = (ws.data.subs ??= [])
		if (subs.includes(auction)) return resubscribe(ws, watched.get(auction)!, since)
		if (subs.length >= limits.maxSubscriptions) return sockets.sendError(ws, new TooManySubscriptionsError(limits.maxSubscriptions), auction)
		subs.push(auction)
		metrics.wsSubscriptions.inc()
		enqueue(ws, acquire(auction), since)
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
			w.ready = whenDelivering(w) // the next subscribe checks the bus (and the topic's start) again
			drop(ws, w.auction)
			return sockets.sendError(ws, new UnavailableError('the auction cannot be read right now; subscribe again'), w.auction)
		}
		if (result === null) {
			drop(ws, w.auction)
			return sockets.sendError(ws, new NotFoundError('auction'), w.auction)
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
		armGap(w, gapWaitMs)
	}

	const fitsWhole = (ws: LiveSocket, frames: string[]) => ws.getBufferedAmount() + byteLength(frames) <= replayBytes

	const unsubscribe = (ws: LiveSocket, auction: string) => {
		drop(ws, auction)
		sockets.send(ws, `{"type":"unsubscribed","auction":"${auction}"}`)
	}

	const handle = (ws: LiveSocket, op: SubscribeOp | { op: 'unsubscribe'; auction: string }) => {
		if (op.op === 'subscribe') subscribe(ws, op)
		else unsubscribe(ws, op.auction)
	}

	const connection: Omit<LiveConnection, 'subs' | 'syncs' | 'initial' | 'tokens' | 'countedAt' | 'address'> = {
		open(ws) {
			if (!sockets.add(ws)) return
			const initial = ws.data.initial
			ws.data.initial = null
			if (initial instanceof AppError) sockets.sendError(ws, initial)
			else if (initial !== null) handle(ws, initial)
		},
		message(ws, message) {
			const op = parseClientOp(message)
			if (op instanceof AppError) return sockets.sendError(ws, op)
			if (!sockets.takeToken(ws.data)) return sockets.sendError(ws, new RateLimitedError(1), op.auction)
			handle(ws, op)
		},
		drain(ws) {
			// Bun calls this once the socket has sent everything: room for a waiting replay.
			if (waiting.has(ws)) resume(ws)
		},
		close(ws) {
			if (!sockets.remove(ws)) return
			waiting.delete(ws)
			const subs = ws.data.subs
			if (subs === null) return
			for (const auction of [...subs]) drop(ws, auction)
			ws.data.subs = null
		},
	}

	return {
		/** Bun's WebSocket settings for the limits (given to the Elysia app's `websocket` config). */
		websocket: websocketSettings(limits),

		/**
		 * upgrade turns a `/live` request into a watcher socket, or says why not: 426 for a
		 * request that is not a WebSocket handshake, 429 when `address` (the client's, as
		 * clientAddress gives it) has LIVE_MAX_SOCKETS_PER_IP sockets open already. Null when
		 * upgraded. The per-socket state is one small object whose methods live on a shared prototype.
		 */
		upgrade(request: Request, bunServer: Server<LiveConnection> | null, query: Record<string, string | undefined>, address: string): AppError | null {
			if (bunServer === null || request.headers.get('upgrade')?.toLowerCase() !== 'websocket') return new UpgradeRequiredError()
			const tooMany = sockets.refusal(address)
			if (tooMany !== null) return tooMany
			server ??= bunServer
			const data: LiveConnection = Object.create(connection)
			data.subs = null
			data.syncs = null
			data.initial = parseLiveQuery(query)
			data.tokens = OPS_BURST
			data.countedAt = Date.now()
			data.address = address
			return bunServer.upgrade(request, { data }) ? null : new UpgradeRequiredError()
		},

		/**
		 * local fans out an event this process has just committed, without waiting for the bus to
		 * bring it back (a JetStream round trip). The bus copy that follows is dropped as a repeat;
		 * events committed by other instances still come from the bus.
		 */
		local(auction: string, json: string): void {
			const w = watched.get(auction)
			if (w !== undefined) fanOut(w, json)
		},

		/** Watchers and auctions on this instance (tests and diagnostics). */
		stats: () => ({ sockets: sockets.size(), auctions: watched.size }),

		/** close says goodbye to every watcher with 1001 (they reconnect elsewhere with `since`). */
		close() {
			sockets.close()
			stopResume()
			for (const w of watched.values()) {
				w.stop()
				if (w.gapTimer !== null) clearTimeout(w.gapTimer)
			}
			watched.clear()
		},
	}
}

export type LiveHub = ReturnType<typeof createLiveHub>

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
