import type { AuctionView } from '../domain/auction.ts'
import type { GavelEvent } from '../events.ts'
import type { LiveErrorCode, LiveFrame } from '../modules/live/model.ts'
import { backoffDelay } from '../lib/backoff.ts'

/**
 * Where a watch stands: `catching-up` is subscribed but still behind (the events after its seq
 * are being replayed, or a missing one is awaited), `live` is caught up.
 */
export type WatchStatus = 'connecting' | 'catching-up' | 'live' | 'reconnecting' | 'closed'

/** What one auction's watch hears about. */
export interface AuctionWatchOptions {
	/** The last seq you already have: the events after it come first. Omit to start from now. */
	since?: number
	/** Every event once, in seq order, no gaps (across reconnects too). */
	onEvent(event: GavelEvent): void
	/** The auction's state on every (re)subscribe, before the events that follow it. */
	onState?(state: AuctionView): void
	/** The events after your seq are no longer kept: carry on from `state` (its seq is the new start). */
	onReset?(state: AuctionView): void
	/** Error frames and fatal problems; NOT_FOUND for the auction ends the watch. */
	onError?(error: WatchError): void
	onStatus?(status: WatchStatus): void
	/** How long an early event waits for the ones before it before the client re-syncs (default 500 ms). */
	gapTimeoutMs?: number
}

/** The socket a connection uses, and how it comes back after a drop. */
export interface LiveConnectionOptions {
	/** Reconnect backoff with full jitter (defaults: 250 ms doubling up to 10 s). */
	backoff?: { baseMs?: number; maxMs?: number }
	/**
	 * A WebSocket implementation, where there is no global one (Node 20: `import WebSocket from 'ws'`).
	 * Default: `globalThis.WebSocket` (browsers, Bun, Deno, Node 22+).
	 */
	WebSocket?: WatchSocketConstructor
}

export interface WatchOptions extends AuctionWatchOptions, LiveConnectionOptions {}

/**
 * Handler type checked bivariantly (declared as a method), so that both the DOM's handlers
 * (`(ev: MessageEvent) => any`) and the `ws` package's (`(event: WebSocket.MessageEvent) => void`)
 * fit: each event type has what watch() reads.
 */
type SocketHandler<E> = { handle(event: E): void }['handle']

/**
 * WatchSocket is the part of a WebSocket that watch() uses. The standard one (browsers, Bun,
 * Node 22+) and the `ws` package's both have it, although their full types differ.
 */
export interface WatchSocket {
	readonly readyState: number
	send(data: string): void
	close(code?: number, reason?: string): void
	onopen: SocketHandler<unknown> | null
	onmessage: SocketHandler<{ data: unknown }> | null
	onclose: SocketHandler<unknown> | null
	onerror: SocketHandler<unknown> | null
}

export type WatchSocketConstructor = new (url: string) => WatchSocket

export interface Watcher {
	/** The seq of the last event handed to onEvent (or of the state after a reset); null before the first subscribe. */
	readonly seq: number | null
	readonly status: WatchStatus
	/** Stops for good: no reconnects, no more callbacks. */
	close(): void
}

/**
 * LiveConnection is one `/live` socket shared by several watches (a page that shows many
 * auctions): one socket per client instead of one per auction, which `LIVE_MAX_SOCKETS_PER_IP`
 * counts. Each watch behaves exactly as a `watch()` of its own.
 */
export interface LiveConnection {
	/** Follows one more auction on this connection; one watch per auction at a time. */
	watch(auction: string, options: AuctionWatchOptions): Watcher
	/** Stops every watch and closes the socket for good. */
	close(): void
}

/** WatchError is an error frame from the server (`code` as in README "Watching live") or a client-side failure. */
export class WatchError extends Error {
	override name = 'WatchError'
	constructor(
		readonly code: LiveErrorCode | 'PROTOCOL',
		message: string,
		readonly auction?: string,
	) {
		super(message)
	}
}

const DEFAULT_BACKOFF = { baseMs: 250, maxMs: 10_000 }
const DEFAULT_GAP_TIMEOUT_MS = 500
/** Early events held at most; past this the client re-syncs at once instead of waiting. */
const MAX_PENDING = 1_000
const CLIENT_CLOSE = 1000
/** `WebSocket.OPEN`: the same in every implementation (WHATWG and `ws`). */
const OPEN = 1

/**
 * watch follows one auction over `/live`: it subscribes with the last seq it has, reconnects
 * with exponential backoff and jitter, and hands every event to `onEvent` exactly once and in
 * seq order. Duplicates (seq already seen) are dropped; an event that arrives early waits for
 * the missing ones and, if they do not come within `gapTimeoutMs`, the client subscribes again
 * with its last seq on the same socket, which makes the server replay what is missing.
 * It has a socket of its own; to follow many auctions on one socket, use `connectLive`.
 */
export function watch(baseUrl: string, auction: string, options: WatchOptions): Watcher {
	const connection = connectLive(baseUrl, options)
	const watcher = connection.watch(auction, {
		...options,
		onStatus(status) {
			options.onStatus?.(status)
			// The watch ended by itself (NOT_FOUND): its socket goes with it.
			if (status === 'closed') connection.close()
		},
	})
	return {
		get seq() {
			return watcher.seq
		},
		get status() {
			return watcher.status
		},
		close: () => connection.close(),
	}
}

/** One auction's side of a connection: its seq, its held events and its callbacks. */
interface Subscription {
	readonly auction: string
	/** Send a subscribe from the last seq on this socket. */
	subscribe(ws: WatchSocket): void
	onFrame(frame: LiveFrame): void
	/** A problem that is no frame of the server's (a frame that is not JSON). */
	report(error: WatchError): void
	/** The socket went away: wait for the next one. */
	onDisconnect(): void
	/** Stop without a word to the server (the socket is gone or going). */
	end(): void
}

/**
 * connectLive opens one `/live` socket for any number of watches. It connects on the first
 * watch, reconnects with exponential backoff and jitter while any watch is open, and subscribes
 * every watch again from its last seq after a reconnect.
 */
export function connectLive(baseUrl: string, options: LiveConnectionOptions = {}): LiveConnection {
	const Socket = options.WebSocket ?? (globalThis.WebSocket as WatchSocketConstructor | undefined)
	// Node before 22 has no global WebSocket: say what to pass rather than fail on `new undefined`.
	if (Socket === undefined)
		throw new TypeError(
			'watch() needs a WebSocket and this runtime has no global one (Node < 22): npm install ws, then pass it as the WebSocket option (import WebSocket from "ws")',
		)
	const backoff = { ...DEFAULT_BACKOFF, ...options.backoff }
	const url = liveUrl(baseUrl)
	const subscriptions = new Map<string, Subscription>()
	let socket: WatchSocket | null = null
	let attempt = 0
	let closed = false
	let reconnectTimer: ReturnType<typeof setTimeout> | null = null

	const open = (): WatchSocket | null => (socket !== null && socket.readyState === OPEN ? socket : null)

	const onFrame = (frame: LiveFrame) => {
		if (frame.type === 'subscribed' || frame.type === 'reset') attempt = 0
		// Error frames about no auction in particular (a bad frame) concern every watch.
		const auction = frame.auction
		if (auction === undefined) for (const subscription of [...subscriptions.values()]) subscription.onFrame(frame)
		else subscriptions.get(auction)?.onFrame(frame)
	}

	const connect = () => {
		reconnectTimer = null
		if (closed || subscriptions.size === 0) return
		const ws = new Socket(url)
		socket = ws
		ws.onopen = () => {
			for (const subscription of subscriptions.values()) subscription.subscribe(ws)
		}
		ws.onmessage = (message) => {
			if (ws !== socket) return
			let frame: LiveFrame
			try {
				frame = JSON.parse(String(message.data)) as LiveFrame
			} catch {
				const error = new WatchError('PROTOCOL', 'the server sent a frame that is not JSON')
				for (const subscription of subscriptions.values()) subscription.report(error)
				return
			}
			onFrame(frame)
		}
		ws.onclose = () => {
			if (ws !== socket) return
			socket = null
			if (closed) return
			for (const subscription of subscriptions.values()) subscription.onDisconnect()
			reconnectTimer = setTimeout(connect, backoffDelay(attempt++, backoff))
		}
		ws.onerror = () => {} // a close follows, and the close reconnects
	}

	const connection: LiveConnection = {
		watch(auction, watchOptions) {
			if (closed) throw new Error('this live connection is closed')
			if (subscriptions.has(auction)) throw new Error(`this connection already watches ${auction}`)
			const subscription = subscribeTo(auction, watchOptions, {
				send: (op) => open()?.send(JSON.stringify(op)),
				retryDelay: (retries) => backoffDelay(retries, backoff),
				forget: () => subscriptions.delete(auction),
			})
			subscriptions.set(auction, subscription.internal)
			const ws = open()
			if (ws !== null) subscription.internal.subscribe(ws)
			else if (socket === null && reconnectTimer === null) connect()
			return subscription.watcher
		},
		close() {
			if (closed) return
			closed = true
			if (reconnectTimer !== null) clearTimeout(reconnectTimer)
			for (const subscription of [...subscriptions.values()]) subscription.end()
			subscriptions.clear()
			const ws = socket
			socket = null
			ws?.close(CLIENT_CLOSE, 'done')
		},
	}
	return connection
}

interface SubscriptionLink {
	/** Sends an op if the socket is open (a closed socket resubscribes everything when it is back). */
	send(op: { op: 'subscribe'; auction: string; since?: number } | { op: 'unsubscribe'; auction: string }): void
	/** The wait before retrying a subscribe the server refused for now (UNAVAILABLE, RATE_LIMITED…). */
	retryDelay(retries: number): number
	/** The watch ended: the connection drops it. */
	forget(): void
}

/** subscribeTo is one auction's watch on a connection: ordering, gaps, resets and its status. */
function subscribeTo(auction: string, options: AuctionWatchOptions, link: SubscriptionLink): { watcher: Watcher; internal: Subscription } {
	const gapTimeoutMs = options.gapTimeoutMs ?? DEFAULT_GAP_TIMEOUT_MS
	let last: number | null = options.since ?? null
	const pending = new Map<number, GavelEvent>()
	/** True from a subscribe until its `subscribed`/`reset`: events in between belong to the old sync. */
	let syncing = true
	/** The seq the server's state was at when it answered: until `last` reaches it, the replay is still coming. */
	let replayUntil: number | null = null
	let status: WatchStatus = 'connecting'
	let ended = false
	let retries = 0
	let gapTimer: ReturnType<typeof setTimeout> | null = null
	let retryTimer: ReturnType<typeof setTimeout> | null = null

	const setStatus = (next: WatchStatus) => {
		if (next === status) return
		status = next
		options.onStatus?.(next)
	}

	const stopTimers = () => {
		if (gapTimer !== null) clearTimeout(gapTimer)
		if (retryTimer !== null) clearTimeout(retryTimer)
		gapTimer = retryTimer = null
	}

	const subscribeOp = () => (last === null ? { op: 'subscribe' as const, auction } : { op: 'subscribe' as const, auction, since: last })

	const startSync = () => {
		syncing = true
		pending.clear()
		stopTimers()
	}

	const resync = () => {
		startSync()
		link.send(subscribeOp())
	}

	/** Caught up once the replay has arrived and nothing early is held. */
	const settle = () => {
		if (replayUntil !== null && last !== null && last >= replayUntil) replayUntil = null
		setStatus(replayUntil === null && pending.size === 0 ? 'live' : 'catching-up')
	}

	const emit = (event: GavelEvent) => {
		last = event.seq
		options.onEvent(event)
	}

	const onLiveEvent = (event: GavelEvent) => {
		if (syncing || last === null || event.seq <= last) return // old sync or a duplicate
		if (event.seq !== last + 1) {
			pending.set(event.seq, event)
			setStatus('catching-up')
			if (pending.size > MAX_PENDING) resync()
			else
				gapTimer ??= setTimeout(() => {
					gapTimer = null
					resync()
				}, gapTimeoutMs)
			return
		}
		emit(event)
		for (let next = pending.get(last + 1); next !== undefined && !ended; next = pending.get(last + 1)) {
			pending.delete(next.seq)
			emit(next)
		}
		if (ended) return
		if (pending.size === 0 && gapTimer !== null) {
			clearTimeout(gapTimer)
			gapTimer = null
		}
		settle()
	}

	const end = () => {
		if (ended) return
		ended = true
		stopTimers()
		setStatus('closed')
	}

	const internal: Subscription = {
		auction,
		subscribe(ws) {
			startSync()
			ws.send(JSON.stringify(subscribeOp()))
		},
		onFrame(frame) {
			if (ended) return
			switch (frame.type) {
				case 'subscribed':
				case 'reset':
					syncing = false
					retries = 0
					pending.clear()
					if (frame.type === 'reset' || last === null) last = frame.seq
					replayUntil = frame.seq > last ? frame.seq : null
					if (frame.type === 'reset') options.onReset?.(frame.state)
					options.onState?.(frame.state)
					if (!ended) settle()
					return
				case 'unsubscribed':
					return
				case 'error': {
					options.onError?.(new WatchError(frame.code, frame.message, frame.auction))
					if (ended || frame.auction === undefined) return
					if (frame.code === 'NOT_FOUND') {
						// Nothing to unsubscribe from: the subscribe was refused.
						link.forget()
						return end()
					}
					// The subscribe did not take (the store or bus is down, too many ops…): try again after a while.
					setStatus('reconnecting')
					startSync()
					retryTimer = setTimeout(() => {
						retryTimer = null
						link.send(subscribeOp())
					}, link.retryDelay(retries++))
					return
				}
				default:
					onLiveEvent(frame)
			}
		},
		report(error) {
			if (!ended) options.onError?.(error)
		},
		onDisconnect() {
			startSync()
			setStatus('reconnecting')
		},
		end,
	}

	const watcher: Watcher = {
		get seq() {
			return last
		},
		get status() {
			return status
		},
		close() {
			if (ended) return
			link.send({ op: 'unsubscribe', auction })
			link.forget()
			end()
		},
	}
	return { watcher, internal }
}

/** liveUrl is the `/live` WebSocket URL of a gavel base URL (http → ws, https → wss). */
export function liveUrl(baseUrl: string): string {
	const url = new URL(baseUrl)
	url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
	url.pathname = `${url.pathname.replace(/\/+$/, '')}/live`
	url.search = ''
	return url.toString()
}
