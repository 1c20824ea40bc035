import type { Server } from 'bun'
import { AppError, NotFoundError, RateLimitedError, TooManySubscriptionsError, UnavailableError } from '../../errors.ts'
import type { BidStore, EventsSince } from '../../ports/bid-store.ts'
import { seqOf, type EventBus } from '../../ports/event-bus.ts'
import type { Logger } from '../../observability/log.ts'
import type { Metrics } from '../../observability/metrics.ts'
import { headFrame, parseClientOp, parseLiveQuery, UpgradeRequiredError, type SubscribeOp } from './model.ts'
import { createTopics, type Watched } from './topics.ts'
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
export function createLiveHub({ store, bus, metrics, log: parentLog, limits, gapWaitMs }: LiveHubDeps) {
	const log = parentLog.child({ component: 'live' })
	/** Sockets whose first sync waits for room in their send buffer. */
	const waiting = new Set<LiveSocket>()
	/** What a replay may fill of a socket's send buffer; the rest is room for live events. */
	const replayBytes = Math.floor(limits.sendBufferBytes / 2)
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

	const topics = createTopics({ store, bus, metrics, log, sockets, gapWaitMs, admit: (w) => admit(w) })

	// For /metrics: one pass over the sockets per scrape, none per event.
	metrics.sampleLive(() => ({ ...sockets.sendBuffers(), replaysWaiting: waiting.size }))

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
		const w = topics.get(auction)
		if (!w) return
		leave(ws, w)
		topics.release(w)
	}

	const subscribe = (ws: LiveSocket, { auction, since }: SubscribeOp) => {
		const subs = (ws.data.subs ??= [])
		if (subs.includes(auction)) return resubscribe(ws, topics.get(auction)!, since)
		if (subs.length >= limits.maxSubscriptions) return sockets.sendError(ws, new TooManySubscriptionsError(limits.maxSubscriptions), auction)
		subs.push(auction)
		metrics.wsSubscriptions.inc()
		enqueue(ws, topics.acquire(auction), since)
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
		topics.armGap(w)
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
			topics.useServer(bunServer)
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
			const w = topics.get(auction)
			if (w !== undefined) topics.fanOut(w, json)
		},

		/** Watchers and auctions on this instance (tests and diagnostics). */
		stats: () => ({ sockets: sockets.size(), auctions: topics.size() }),

		/** close says goodbye to every watcher with 1001 (they reconnect elsewhere with `since`). */
		close() {
			sockets.close()
			topics.close()
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
