import type { AuctionView } from '../domain/auction.ts'
import type { GavelEvent } from '../events.ts'
import type { LiveErrorCode, LiveFrame } from '../modules/live/model.ts'
import { backoffDelay } from '../lib/backoff.ts'

export type WatchStatus = 'connecting' | 'live' | 'reconnecting' | 'closed'

export interface WatchOptions {
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
	/** Reconnect backoff with full jitter (defaults: 250 ms doubling up to 10 s). */
	backoff?: { baseMs?: number; maxMs?: number }
	/** How long an early event waits for the ones before it before the client re-syncs (default 500 ms). */
	gapTimeoutMs?: number
	/**
	 * A WebSocket implementation, where there is no global one (Node 20: `import WebSocket from 'ws'`).
	 * Default: `globalThis.WebSocket` (browsers, Bun, Deno, Node 22+).
	 */
	WebSocket?: WatchSocketConstructor
}

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
 */
export function watch(baseUrl: string, auction: string, options: WatchOptions): Watcher {
	const Socket = options.WebSocket ?? (globalThis.WebSocket as WatchSocketConstructor | undefined)
	// Node before 22 has no global WebSocket: say what to pass rather than fail on `new undefined`.
	if (Socket === undefined)
		throw new TypeError(
			'watch() needs a WebSocket and this runtime has no global one (Node < 22): npm install ws, then pass it as the WebSocket option (import WebSocket from "ws")',
		)
	const backoff = { ...DEFAULT_BACKOFF, ...options.backoff }
	const gapTimeoutMs = options.gapTimeoutMs ?? DEFAULT_GAP_TIMEOUT_MS
	const url = liveUrl(baseUrl)

	let last: number | null = options.since ?? null
	const pending = new Map<number, GavelEvent>()
	let socket: WatchSocket | null = null
	/** True from a subscribe until its `subscribed`/`reset`: events in between belong to the old sync. */
	let syncing = true
	let attempt = 0
	let status: WatchStatus = 'connecting'
	let closed = false
	let reconnectTimer: ReturnType<typeof setTimeout> | null = null
	let gapTimer: ReturnType<typeof setTimeout> | null = null

	const setStatus = (next: WatchStatus) => {
		if (next === status) return
		status = next
		options.onStatus?.(next)
	}

	const stopGapTimer = () => {
		if (gapTimer !== null) clearTimeout(gapTimer)
		gapTimer = null
	}

	const subscribe = (ws: WatchSocket) => {
		syncing = true
		pending.clear()
		stopGapTimer()
		ws.send(JSON.stringify(last === null ? { op: 'subscribe', auction } : { op: 'subscribe', auction, since: last }))
	}

	const resync = () => {
		if (socket !== null && socket.readyState === OPEN) subscribe(socket)
	}

	const emit = (event: GavelEvent) => {
		last = event.seq
		options.onEvent(event)
	}

	const onLiveEvent = (event: GavelEvent) => {
		if (syncing || last === null || event.seq <= last) return // old sync or a duplicate
		if (event.seq !== last + 1) {
			pending.set(event.seq, event)
			if (pending.size > MAX_PENDING) resync()
			else
				gapTimer ??= setTimeout(() => {
					gapTimer = null
					resync()
				}, gapTimeoutMs)
			return
		}
		emit(event)
		for (let next = pending.get(last + 1); next !== undefined && !closed; next = pending.get(last + 1)) {
			pending.delete(next.seq)
			emit(next)
		}
		if (pending.size === 0) stopGapTimer()
	}

	const onFrame = (frame: LiveFrame) => {
		// Error frames about no auction in particular (a bad frame) still concern this watcher.
		if (closed || (frame.auction !== auction && !(frame.type === 'error' && frame.auction === undefined))) return
		switch (frame.type) {
			case 'subscribed':
			case 'reset':
				syncing = false
				attempt = 0
				pending.clear()
				if (frame.type === 'reset' || last === null) last = frame.seq
				if (frame.type === 'reset') options.onReset?.(frame.state)
				options.onState?.(frame.state)
				setStatus('live')
				return
			case 'unsubscribed':
				return
			case 'error': {
				options.onError?.(new WatchError(frame.code, frame.message, frame.auction))
				if (frame.code === 'NOT_FOUND') watcher.close()
				else if (frame.auction === undefined) return
				// The subscribe did not take: reconnect (with backoff) and try again.
				else if (socket !== null) socket.close(CLIENT_CLOSE, 'retrying')
				return
			}
			default:
				onLiveEvent(frame)
		}
	}

	const connect = () => {
		reconnectTimer = null
		const ws = new Socket(url)
		socket = ws
		ws.onopen = () => subscribe(ws)
		ws.onmessage = (message) => {
			if (ws !== socket) return
			let frame: LiveFrame
			try {
				frame = JSON.parse(String(message.data)) as LiveFrame
			} catch {
				return options.onError?.(new WatchError('PROTOCOL', 'the server sent a frame that is not JSON'))
			}
			onFrame(frame)
		}
		ws.onclose = () => {
			if (ws !== socket) return
			socket = null
			stopGapTimer()
			if (closed) return
			setStatus('reconnecting')
			reconnectTimer = setTimeout(connect, backoffDelay(attempt++, backoff))
		}
		ws.onerror = () => {} // a close follows, and the close reconnects
	}

	const watcher: Watcher = {
		get seq() {
			return last
		},
		get status() {
			return status
		},
		close() {
			if (closed) return
			closed = true
			stopGapTimer()
			if (reconnectTimer !== null) clearTimeout(reconnectTimer)
			const ws = socket
			socket = null
			ws?.close(CLIENT_CLOSE, 'done')
			setStatus('closed')
		},
	}
	connect()
	return watcher
}

/** liveUrl is the `/live` WebSocket URL of a gavel base URL (http → ws, https → wss). */
export function liveUrl(baseUrl: string): string {
	const url = new URL(baseUrl)
	url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
	url.pathname = `${url.pathname.replace(/\/+$/, '')}/live`
	url.search = ''
	return url.toString()
}
