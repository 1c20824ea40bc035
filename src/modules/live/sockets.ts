import type { ServerWebSocket, WebSocketHandler } from 'bun'
import type { AppError } from '../../errors.ts'
import type { Logger } from '../../observability/log.ts'
import type { Metrics } from '../../observability/metrics.ts'
import type { LiveLimits } from './hub.ts'
import { CloseCode, errorFrame, TooManyConnectionsError, type SubscribeOp } from './model.ts'
import type { Sync } from './sync.ts'

/** How often, at most, a backpressured fan-out looks for sockets over their send buffer. */
const SWEEP_INTERVAL_MS = 100
// The drain on shutdown closes a batch of sockets at most this often (LIVE_DRAIN_SPREAD_MS).
const DRAIN_TICK_MS = 20

/**
 * Bun's own limit, as a multiple of ours: past it Bun drops frames (and the hub closes that
 * socket at once). Ours is enforced by the sweep within 100 ms; the margin keeps Bun from
 * dropping anything a socket that is then not closed would miss.
 */
const BUN_BACKPRESSURE_FACTOR = 4
/** Client ops per connection: a burst, then a steady rate (each subscribe costs a store read). */
export const OPS_BURST = 200
const OPS_PER_SECOND = 50

export type LiveSocket = ServerWebSocket<LiveConnection>

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

/** Bun's WebSocket settings for the limits (given to the Elysia app's `websocket` config). */
export const websocketSettings = (limits: LiveLimits) =>
	({
		maxPayloadLength: limits.maxFrameBytes,
		idleTimeout: limits.idleTimeoutS,
		sendPings: true,
		// Bun's own limit is a backstop: past it Bun drops frames, and the sweep then closes
		// that socket at once (its close frame still goes out). Ours closes first.
		backpressureLimit: BUN_BACKPRESSURE_FACTOR * limits.sendBufferBytes,
		closeOnBackpressureLimit: false,
		perMessageDeflate: false,
		publishToSelf: false,
	}) satisfies Omit<WebSocketHandler<LiveConnection>, 'message'>

export interface SocketsDeps {
	metrics: Metrics
	log: Logger
	limits: LiveLimits
	/** Runs after every sweep: sockets that read have room for what waits on them. */
	onSweep(): void
}

export type Sockets = ReturnType<typeof createSockets>

/**
 * createSockets keeps this hub's open sockets and their limits: sockets per client address, the
 * op rate, and the send buffer. Frames to one socket go out within a budget of its queue; a
 * socket with more than LIVE_SEND_BUFFER_BYTES queued is closed as a slow consumer (4008) by a
 * sweep that runs only under backpressure, so a slow socket never delays the others.
 */
export function createSockets({ metrics, log, limits, onSweep }: SocketsDeps) {
	const open = new Set<LiveSocket>()
	/** Open sockets per client address. */
	const perAddress = new Map<string, number>()
	let sweepTimer: ReturnType<typeof setTimeout> | null = null
	let closing = false

	/** refusal is the 429 for an address that has LIVE_MAX_SOCKETS_PER_IP sockets open already; null when it may open one. */
	const refusal = (address: string): TooManyConnectionsError | null => {
		const max = limits.maxSocketsPerAddress
		return max > 0 && (perAddress.get(address) ?? 0) >= max ? new TooManyConnectionsError(max) : null
	}

	/** add counts in a socket Bun has opened; false when the hub is shutting down (it is closed with 1001). */
	const add = (ws: LiveSocket): boolean => {
		if (closing) {
			ws.close(CloseCode.GOING_AWAY, 'server shutting down')
			return false
		}
		open.add(ws)
		// Bun calls `open` inside `server.upgrade`, so the count is right before the next request.
		perAddress.set(ws.data.address, (perAddress.get(ws.data.address) ?? 0) + 1)
		metrics.wsConnections.inc()
		return true
	}

	/** remove counts out a closed socket; false when it was never counted in (or is out already). */
	const remove = (ws: LiveSocket): boolean => {
		if (!open.delete(ws)) return false
		metrics.wsConnections.dec()
		const { address } = ws.data
		const left = (perAddress.get(address) ?? 1) - 1
		if (left > 0) perAddress.set(address, left)
		else perAddress.delete(address)
		return true
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

	// ---- slow consumers --------------------------------------------------------------------------

	const closeSlow = (ws: LiveSocket) => {
		metrics.wsSlowConsumerCloses.inc()
		log.debug({ remote: ws.remoteAddress, buffered: ws.getBufferedAmount() }, 'closing a slow consumer')
		ws.close(CloseCode.SLOW_CONSUMER, 'slow consumer') // Bun runs `close` before this returns
	}

	/**
	 * sweep closes every socket over its send-buffer limit and lets what waits for room go on
	 * (`onSweep`); O(sockets), so it runs only under backpressure.
	 */
	const sweep = () => {
		if (sweepTimer !== null) {
			clearTimeout(sweepTimer)
			sweepTimer = null
		}
		for (const ws of open) if (ws.getBufferedAmount() > limits.sendBufferBytes) closeSlow(ws)
		onSweep()
	}

	const scheduleSweep = () => {
		if (sweepTimer !== null) return
		sweepTimer = setTimeout(sweep, SWEEP_INTERVAL_MS)
		sweepTimer.unref?.()
	}

	// ---- sending to one socket -------------------------------------------------------------------

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
	 * sendWithin sends frames in order while the socket's queue stays within `budget` bytes,
	 * and at least one when nothing is queued (so a replay always moves); it returns how many
	 * went out, or -1 when Bun dropped one and the socket was closed as slow.
	 */
	const sendWithin = (ws: LiveSocket, frames: string[], budget: number): number => {
		let i = 0
		let dropped = false
		let buffering = false
		while (i < frames.length) {
			const queued = ws.getBufferedAmount()
			let room = budget - queued
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

	return {
		refusal,
		add,
		remove,
		/** Whether the socket is open (counted in and not closed since). */
		has: (ws: LiveSocket) => open.has(ws),
		size: () => open.size,
		takeToken,
		sweep,
		scheduleSweep,
		send,
		sendError,
		sendWithin,
		/** sendAll sends every frame in one piece (the caller made sure they fit); false when Bun dropped one and the socket was closed as slow. */
		sendAll: (ws: LiveSocket, frames: string[]): boolean => sendWithin(ws, frames, Infinity) >= 0,

		/** What the sockets have queued, all of them and the fullest one (for /metrics: one pass per scrape, none per event). */
		sendBuffers() {
			let sendBufferBytes = 0
			let sendBufferMaxBytes = 0
			for (const ws of open) {
				const bytes = ws.getBufferedAmount()
				sendBufferBytes += bytes
				if (bytes > sendBufferMaxBytes) sendBufferMaxBytes = bytes
			}
			return { sendBufferBytes, sendBufferMaxBytes }
		},

		/**
		 * close says goodbye to every socket with 1001, and at once to any that opens after it. Over
		 * `spreadMs` (0: all at once): a batch each tick, so that the watchers reconnect spread out
		 * instead of all hitting the other instances in the same instant. Resolves when every socket
		 * it found open was told.
		 */
		async close(spreadMs = 0) {
			closing = true
			if (sweepTimer !== null) clearTimeout(sweepTimer)
			const leaving = [...open]
			const started = performance.now()
			let told = 0
			while (told < leaving.length) {
				const elapsed = performance.now() - started
				const due = spreadMs <= 0 ? leaving.length : Math.max(1, Math.ceil((leaving.length * elapsed) / spreadMs))
				for (; told < Math.min(due, leaving.length); told++) {
					const ws = leaving[told]!
					// One that closed on its own meanwhile is no longer in `open`.
					if (open.has(ws)) ws.close(CloseCode.GOING_AWAY, 'server shutting down')
				}
				if (told < leaving.length) await Bun.sleep(Math.max(DRAIN_TICK_MS, spreadMs / leaving.length))
			}
		},
	}
}
