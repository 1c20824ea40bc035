import type { Server, ServerWebSocket, WebSocketHandler } from 'bun'
import { AppError, NotFoundError, RateLimitedError, TooManySubscriptionsError, UnavailableError } from '../../errors.ts'
import type { BidStore, EventsSince } from '../../ports/bid-store.ts'
import { atOf, seqOf, type EventBus, type EventPayload } from '../../ports/event-bus.ts'
import type { Logger } from '../../observability/log.ts'
import type { Metrics } from '../../observability/metrics.ts'
import {
	auctionTopic,
	CloseCode,
	errorFrame,
	parseClientOp,
	parseLiveQuery,
	TooManyConnectionsError,
	UpgradeRequiredError,
	type SubscribeOp,
} from './model.ts'

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
	/** Longest wait for the bus to catch up with a synced watcher's seq (tests shorten it). */
	catchUpMs?: number
}

/** How often, at most, a backpressured fan-out looks for sockets over their send buffer. */
const SWEEP_INTERVAL_MS = 100
/**
 * How long a synced watcher waits for the bus to catch up with the seq it was synced to before
 * it joins the topic anyway (an event committed before the read may still be on its way here).
 */
const DEFAULT_CATCH_UP_MS = 1_000
/**
 * Bun's own limit, as a multiple of ours: past it Bun drops frames (and the hub closes that
 * socket at once). Ours is enforced by the sweep within 100 ms; the margin keeps Bun from
 * dropping anything a socket that is then not closed would miss.
 */
const BUN_BACKPRESSURE_FACTOR = 4
/** Client ops per connection: a burst, then a steady rate (each subscribe costs a store read). */
const OPS_BURST = 200
const OPS_PER_SECOND = 50

/** One auction this instance takes from the bus because it has local watchers. */
interface Watched {
	auction: string
	topic: string
	/** Local watchers in any phase; the bus subscription ends when this reaches 0. */
	count: number
	/** Local watchers on the topic: the audience of a fan-out. */
	joined: number
	/** Resolves once the bus delivers this auction's events (a ping after the subscribe). */
	ready: Promise<void>
	stop(): void
	/** The highest seq the bus has delivered here since the subscription (-1: none yet). */
	seen: number
	/** Watchers whose store read is in flight. */
	reading: Set<Sync>
	/** Events that arrived while any watcher was reading; null when none is. */
	backlog: string[] | null
	/** Synced watchers waiting for the bus to reach their seq before they join the topic. */
	catching: Set<Sync>
	catchTimer: ReturnType<typeof setTimeout> | null
	/** The seqs handed out lately, by `seq % DEDUP_WINDOW`: an event that comes twice goes out once. */
	delivered: Float64Array
	/** The highest seq this instance's watchers are known to have (delivered here, or read at sync). */
	known: number
}

/**
 * How many recent seqs per auction the hub remembers to drop second copies: an event reaches it
 * from this process's own publisher (at once) and again from the bus, and bus retries repeat.
 */
const DEDUP_WINDOW = 1024

/**
 * A subscription on its way to the topic. A socket's syncs queue up (`LiveConnection.syncs`)
 * and only the first one works, so a socket has at most one store read out however many
 * subscribes it sends. Phases: `queued`; `reading` (store read in flight, events pile up in the
 * auction's backlog); `waiting` (the replay did not fit in the socket's replay share: the
 * rest waits for the socket to read, then is read again from the store after the last seq
 * sent); then, off the queue, `catching` (replay sent; events above `seq` go to it directly
 * until the bus has delivered `target` here, so an event still in flight is neither lost nor
 * sent twice), and finally the topic.
 */
interface Sync {
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
	/** The seq of the state it was synced to. */
	target: number
	/** When it joins the topic even if the bus never reaches `target` (published before we listened). */
	deadline: number
}

type LiveSocket = ServerWebSocket<LiveConnection>

/**
 * LiveConnection is the per-socket state, kept as small as possible (docs/design.md §9: ≤ 4 KB per idle
 * socket at 10k). It is the socket's `data`; Elysia's Bun websocket handler calls its
 * open/message/drain/close for every socket it did not upgrade itself.
 */
export interface LiveConnection {
	/** Auctions this socket watches (syncing or live), null until the first subscribe. */
	subs: string[] | null
	/** Its subscriptions still on their way to the topic, oldest first (see Sync); null when none is. */
	syncs: Sync[] | null
	/** The `?auction=&since=` shortcut, taken on open. */
	initial: SubscribeOp | AppError | null
	/** Op rate limit: tokens left and when they were counted. */
	tokens: number
	countedAt: number
	/** The client address it counts against (LIVE_MAX_SOCKETS_PER_IP). */
	address: string
	open(ws: LiveSocket): void
	message(ws: LiveSocket, message: string | Uint8Array): void
	drain(ws: LiveSocket): void
	close(ws: LiveSocket, code: number, reason: string): void
}

const decoder = new TextDecoder()

/**
 * createLiveHub is the live role: it takes from the bus only the auctions that have watchers
 * here (subscribe on the first, unsubscribe after the last) and hands each event's bytes,
 * unchanged, to one Bun topic per auction with `server.publish`: no per-socket work on the
 * live path. A new watcher is synced without loss or duplicates: the bus subscription is
 * ready first, the store read (state + events after `since`) follows, and events that arrive
 * meanwhile wait in a backlog; the replay, the backlog after the read's seq and the topic
 * subscription then happen in one synchronous step, so no event can slip in between. A replay
 * that does not fit in the socket's share of its send buffer is sent in pieces as the socket
 * reads, each piece read afresh from the store. If the bus has not yet brought the read's seq
 * here (its event is still in flight), the watcher gets the newer events one by one until it
 * has, then joins the topic (at most `catchUpMs` later).
 */
export function createLiveHub({ store, bus, metrics, log: parentLog, limits, catchUpMs = DEFAULT_CATCH_UP_MS }: LiveHubDeps) {
	const log = parentLog.child({ component: 'live' })
	const watched = new Map<string, Watched>()
	const sockets = new Set<LiveSocket>()
	/** Sockets whose first sync waits for room in their send buffer. */
	const waiting = new Set<LiveSocket>()
	/** Open sockets per client address. */
	const perAddress = new Map<string, number>()
	/** What a replay may fill of a socket's send buffer; the rest is room for live events. */
	const replayBytes = Math.floor(limits.sendBufferBytes / 2)
	let server: Server<LiveConnection> | null = null
	let sweepTimer: ReturnType<typeof setTimeout> | null = null
	let closing = false

	// For /metrics: one pass over the sockets per scrape, none per event.
	metrics.sampleLive(() => {
		let sendBufferBytes = 0
		let sendBufferMaxBytes = 0
		for (const ws of sockets) {
			const bytes = ws.getBufferedAmount()
			sendBufferBytes += bytes
			if (bytes > sendBufferMaxBytes) sendBufferMaxBytes = bytes
		}
		return { sendBufferBytes, sendBufferMaxBytes, replaysWaiting: waiting.size }
	})

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
				seen: -1,
				reading: new Set(),
				backlog: null,
				catching: new Set(),
				catchTimer: null,
				delivered: new Float64Array(DEDUP_WINDOW).fill(Number.NaN),
				known: -1,
			}
			entry.stop = bus.subscribe(auction, (payload) => fanOut(entry, payload))
			entry.ready = whenDelivering()
			watched.set(auction, (w = entry))
			metrics.liveAuctions.inc()
		}
		w.count++
		return w
	}

	const release = (w: Watched) => {
		if (--w.count > 0) return
		w.stop()
		if (w.catchTimer !== null) clearTimeout(w.catchTimer)
		if (watched.get(w.auction) === w) watched.delete(w.auction)
		metrics.liveAuctions.dec()
	}

	// A bus ping is a round trip behind the subscribe (NATS: SUB, then PING/PONG), so once it
	// answers, every event published afterwards reaches us. Failures surface in the sync.
	const whenDelivering = () => {
		const ready = bus.ping()
		ready.catch(() => {})
		return ready
	}

	const fanOut = (w: Watched, payload: EventPayload) => {
		// One decode per event, not per socket: text frames, because browsers hand binary ones over as Blobs.
		const json = typeof payload === 'string' ? payload : decoder.decode(payload)
		const seq = seqOf(json)
		const slot = seq & (DEDUP_WINDOW - 1)
		if (w.delivered[slot] === seq) return // NaN (never set) equals nothing
		w.delivered[slot] = seq
		if (seq > w.seen) w.seen = seq
		if (seq > w.known) w.known = seq
		if (w.backlog !== null) w.backlog.push(json)
		if (w.joined > 0 && server !== null) {
			const at = atOf(json)
			if (at > 0) metrics.fanoutDelay.observe(Math.max(0, Date.now() - at) / 1000)
			const sent = server.publish(w.topic, json, false)
			metrics.wsFramesSent.inc(w.joined)
			// 0: dropped for someone over Bun's limit (close them now); -1: someone is buffering.
			if (sent === 0) sweep()
			else if (sent < 0) scheduleSweep()
		}
		// After the topic publish, so a watcher that joins here does not get this event twice.
		if (w.catching.size > 0) catchUp(w, json, seq)
	}

	/**
	 * resync runs when the bus reconnects: live deliveries were lost meanwhile (JetStream kept
	 * them, core subscriptions did not), so each watched auction re-reads its events after the
	 * highest seq its watchers have and fans them out; repeats are dropped by seq as ever.
	 */
	const resync = async () => {
		for (const w of [...watched.values()]) {
			if (w.known < 0) continue
			try {
				const missed = await store.eventsSince(w.auction, w.known)
				if (missed === null || watched.get(w.auction) !== w) continue
				if (missed.reset) {
					log.warn({ auction: w.auction, since: w.known }, 'events missed during the bus outage are older than the store keeps; watchers re-sync at the next event')
					continue
				}
				for (const json of missed.items) fanOut(w, json)
			} catch (err) {
				log.warn({ err, auction: w.auction }, 're-sync after the bus outage failed; watchers re-sync at the next event')
			}
		}
	}
	const stopResume = bus.onResume(() => void resync())

	/** catchUp sends an event to the watchers still catching up, and lets in those the bus has reached. */
	const catchUp = (w: Watched, json: string, seq: number) => {
		for (const sync of w.catching) {
			if (seq > sync.seq) {
				send(sync.ws, json)
				sync.seq = seq
			}
			if (w.seen >= sync.target) join(w, sync)
		}
	}

	const join = (w: Watched, sync: Sync) => {
		w.catching.delete(sync)
		w.joined++ // counted even for a socket closing right now: its `close` takes it off again
		if (sync.ws.readyState === 1) sync.ws.subscribe(w.topic)
	}

	const joinOverdue = (w: Watched) => {
		w.catchTimer = null
		const now = Date.now()
		let next = Infinity
		for (const sync of w.catching) {
			if (sync.deadline <= now) join(w, sync)
			else next = Math.min(next, sync.deadline)
		}
		if (next !== Infinity) armCatchTimer(w, next - now)
	}

	const armCatchTimer = (w: Watched, ms: number) => {
		w.catchTimer = setTimeout(() => joinOverdue(w), ms)
		w.catchTimer.unref?.()
	}

	// ---- slow consumers --------------------------------------------------------------------------

	const closeSlow = (ws: LiveSocket) => {
		metrics.wsSlowConsumerCloses.inc()
		log.debug({ remote: ws.remoteAddress, buffered: ws.getBufferedAmount() }, 'closing a slow consumer')
		ws.close(CloseCode.SLOW_CONSUMER, 'slow consumer') // Bun runs `close` before this returns
	}

	/**
	 * sweep closes every socket over its send-buffer limit and lets waiting replays go on where
	 * there is room again; O(sockets), so it runs only under backpressure.
	 */
	const sweep = () => {
		if (sweepTimer !== null) {
			clearTimeout(sweepTimer)
			sweepTimer = null
		}
		for (const ws of sockets) if (ws.getBufferedAmount() > limits.sendBufferBytes) closeSlow(ws)
		// Bun calls `drain` only once a socket has sent everything: live events can keep one from
		// getting there while it reads well enough for its replay to go on.
		for (const ws of waiting) if (ws.getBufferedAmount() <= replayBytes / 2) resume(ws)
	}

	const scheduleSweep = () => {
		if (sweepTimer !== null) return
		sweepTimer = setTimeout(sweep, SWEEP_INTERVAL_MS)
		sweepTimer.unref?.()
	}

	// ---- watcher side ----------------------------------------------------------------------------

	const send = (ws: LiveSocket, frame: string) => {
		const status = ws.send(frame)
		metrics.wsFramesSent.inc()
		if (status === 0 && ws.readyState === 1) closeSlow(ws)
		else if (status < 0) scheduleSweep()
	}

	const sendError = (ws: LiveSocket, err: AppError, auction?: string) => {
		metrics.wsErrorFrames.labels(err.code).inc()
		send(ws, errorFrame(err, auction))
	}

	/**
	 * sendWithin sends frames in order while the socket's queue stays within the replay share,
	 * and at least one when nothing is queued (so a replay always moves); it returns how many
	 * went out, or -1 when Bun dropped one and the socket was closed as slow.
	 */
	const sendWithin = (ws: LiveSocket, frames: string[]): number => {
		let i = 0
		let dropped = false
		let buffering = false
		while (i < frames.length) {
			const queued = ws.getBufferedAmount()
			let room = replayBytes - queued
			let size = Buffer.byteLength(frames[i]!)
			if (queued > 0 && size > room) break
			const first = i
			// Corked in pieces that fit, measuring the queue between them: what the kernel took is
			// not queued, so a socket that reads keeps the replay going at once.
			ws.cork(() => {
				do {
					const status = ws.send(frames[i]!)
					if (status === 0) dropped = true
					else if (status < 0) buffering = true
					room -= size
					i++
					size = i < frames.length ? Buffer.byteLength(frames[i]!) : 0
				} while (i < frames.length && !dropped && size <= room)
			})
			metrics.wsFramesSent.inc(i - first)
			if (dropped) {
				closeSlow(ws)
				return -1
			}
		}
		if (buffering) scheduleSweep()
		return i
	}

	/** sendAll sends every frame (the caller made sure they fit); false when Bun dropped one and the socket was closed as slow. */
	const sendAll = (ws: LiveSocket, frames: string[]): boolean => {
		if (frames.length === 0) return true
		let dropped = false
		let buffering = false
		ws.cork(() => {
			for (const frame of frames) {
				const status = ws.send(frame)
				if (status === 0) dropped = true
				else if (status < 0) buffering = true
			}
		})
		metrics.wsFramesSent.inc(frames.length)
		if (dropped) {
			closeSlow(ws)
			return false
		}
		if (buffering) scheduleSweep()
		return true
	}

	const doneReading = (w: Watched, sync: Sync) => {
		w.reading.delete(sync)
		if (w.reading.size === 0) w.backlog = null
	}

	/** enqueue puts a new subscription in its socket's queue; it reads at once if it is the only one. */
	const enqueue = (ws: LiveSocket, w: Watched, since: number | undefined) => {
		const sync: Sync = { ws, w, phase: 'queued', since, head: true, cancelled: false, stale: false, from: 0, seq: -1, target: -1, deadline: 0 }
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
		if (subs.length >= limits.maxSubscriptions) return sendError(ws, new TooManySubscriptionsError(limits.maxSubscriptions), auction)
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
			w.ready = whenDelivering() // the next subscribe checks the bus again
			drop(ws, w.auction)
			return sendError(ws, new UnavailableError('the auction cannot be read right now; subscribe again'), w.auction)
		}
		if (result === null) {
			drop(ws, w.auction)
			return sendError(ws, new NotFoundError('auction'), w.auction)
		}
		deliver(sync, result, backlog)
	}

	/**
	 * deliver is the synchronous step after a read: head frame, replay, the backlog events after
	 * the read's seq, then the topic; or, when the bus has not yet delivered that seq here (an
	 * event committed before the read is still in flight), a short catch-up first. What does not
	 * fit in the replay share waits for the socket to read (`wait`).
	 */
	const deliver = (sync: Sync, result: EventsSince, backlog: string[]) => {
		const { ws, w } = sync
		const state = result.auction
		if (state.seq > w.known) w.known = state.seq
		const items = result.reset ? [] : result.items
		const withHead = sync.head || result.reset
		const frames = withHead ? [headFrame(result.reset ? 'reset' : 'subscribed', w.auction, state), ...items] : items
		const sent = sendWithin(ws, frames)
		if (sent < 0) return
		if (sent < frames.length) {
			if (withHead && sent === 0) return wait(sync, sync.since, true)
			// Events are stored densely from `since` on, so the last one sent says where to go on.
			return wait(sync, sent > (withHead ? 1 : 0) ? seqOf(frames[sent - 1]!) : sync.since, false)
		}
		// The client now has everything up to the read's seq. Newer events from the backlog go
		// whole or not at all: there may be a gap in them (an event still on its way), and the
		// store has them in order for the next piece.
		const later = newerThan(backlog, state.seq)
		if (later.length > 0 && !fitsWhole(ws, later)) return wait(sync, state.seq, false)
		if (!sendAll(ws, later)) return
		sync.head = false
		advance(sync)
		if (w.seen >= state.seq) return join(w, sync)
		sync.phase = 'catching'
		sync.seq = state.seq // `later` is empty: anything newer would have moved `seen` past it
		sync.target = state.seq
		sync.deadline = Date.now() + catchUpMs
		w.catching.add(sync)
		if (w.catchTimer === null) armCatchTimer(w, catchUpMs)
	}

	const fitsWhole = (ws: LiveSocket, frames: string[]) => ws.getBufferedAmount() + byteLength(frames) <= replayBytes

	const unsubscribe = (ws: LiveSocket, auction: string) => {
		drop(ws, auction)
		send(ws, `{"type":"unsubscribed","auction":"${auction}"}`)
	}

	/** takeToken is a per-connection token bucket: subscribes cost store reads, floods get RATE_LIMITED. */
	const takeToken = (conn: LiveConnection): boolean => {
		const now = Date.now()
		conn.tokens = Math.min(OPS_BURST, conn.tokens + ((now - conn.countedAt) * OPS_PER_SECOND) / 1000)
		conn.countedAt = now
		if (conn.tokens < 1) return false
		conn.tokens--
		return true
	}

	const handle = (ws: LiveSocket, op: SubscribeOp | { op: 'unsubscribe'; auction: string }) => {
		if (op.op === 'subscribe') subscribe(ws, op)
		else unsubscribe(ws, op.auction)
	}

	const connection: Omit<LiveConnection, 'subs' | 'syncs' | 'initial' | 'tokens' | 'countedAt' | 'address'> = {
		open(ws) {
			if (closing) return ws.close(CloseCode.GOING_AWAY, 'server shutting down')
			sockets.add(ws)
			// Bun calls `open` inside `server.upgrade`, so the count is right before the next request.
			perAddress.set(ws.data.address, (perAddress.get(ws.data.address) ?? 0) + 1)
			metrics.wsConnections.inc()
			const initial = ws.data.initial
			ws.data.initial = null
			if (initial instanceof AppError) sendError(ws, initial)
			else if (initial !== null) handle(ws, initial)
		},
		message(ws, message) {
			const op = parseClientOp(message)
			if (op instanceof AppError) return sendError(ws, op)
			if (!takeToken(ws.data)) return sendError(ws, new RateLimitedError(1), op.auction)
			handle(ws, op)
		},
		drain(ws) {
			// Bun calls this once the socket has sent everything: room for a waiting replay.
			if (waiting.has(ws)) resume(ws)
		},
		close(ws) {
			if (!sockets.delete(ws)) return
			metrics.wsConnections.dec()
			const { address } = ws.data
			const open = (perAddress.get(address) ?? 1) - 1
			if (open > 0) perAddress.set(address, open)
			else perAddress.delete(address)
			waiting.delete(ws)
			const subs = ws.data.subs
			if (subs === null) return
			for (const auction of [...subs]) drop(ws, auction)
			ws.data.subs = null
		},
	}

	return {
		/** Bun's WebSocket settings for the limits (given to the Elysia app's `websocket` config). */
		websocket: {
			maxPayloadLength: limits.maxFrameBytes,
			idleTimeout: limits.idleTimeoutS,
			sendPings: true,
			// Bun's own limit is a backstop: past it Bun drops frames, and the sweep then closes
			// that socket at once (its close frame still goes out). Ours closes first.
			backpressureLimit: BUN_BACKPRESSURE_FACTOR * limits.sendBufferBytes,
			closeOnBackpressureLimit: false,
			perMessageDeflate: false,
			publishToSelf: false,
		} satisfies Omit<WebSocketHandler<LiveConnection>, 'message'>,

		/**
		 * upgrade turns a `/live` request into a watcher socket, or says why not: 426 for a
		 * request that is not a WebSocket handshake, 429 when `address` (the client's, as
		 * clientAddress gives it) has LIVE_MAX_SOCKETS_PER_IP sockets open already. Null when
		 * upgraded. The per-socket state is one small object whose methods live on a shared prototype.
		 */
		upgrade(request: Request, bunServer: Server<LiveConnection> | null, query: Record<string, string | undefined>, address: string): AppError | null {
			if (bunServer === null || request.headers.get('upgrade')?.toLowerCase() !== 'websocket') return new UpgradeRequiredError()
			const max = limits.maxSocketsPerAddress
			if (max > 0 && (perAddress.get(address) ?? 0) >= max) return new TooManyConnectionsError(max)
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
		stats: () => ({ sockets: sockets.size, auctions: watched.size }),

		/** close says goodbye to every watcher with 1001 (they reconnect elsewhere with `since`). */
		close() {
			closing = true
			stopResume()
			if (sweepTimer !== null) clearTimeout(sweepTimer)
			for (const ws of sockets) ws.close(CloseCode.GOING_AWAY, 'server shutting down')
			for (const w of watched.values()) w.stop()
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

/** The frame that starts a sync: the state at `seq`; `reset` when the events after `since` are not all kept. */
const headFrame = (type: 'subscribed' | 'reset', auction: string, state: EventsSince['auction']) =>
	`{"type":"${type}","auction":"${auction}","seq":${state.seq},"state":${JSON.stringify(state)}}`

/** newerThan returns the backlog events after `seq`, in seq order, each seq once (bus retries may repeat one). */
function newerThan(backlog: string[], seq: number): string[] {
	const later: Array<[number, string]> = []
	for (const json of backlog) {
		const s = seqOf(json)
		if (s > seq) later.push([s, json])
	}
	later.sort((a, b) => a[0] - b[0])
	return later.filter(([s], i) => i === 0 || later[i - 1]![0] !== s).map(([, json]) => json)
}
