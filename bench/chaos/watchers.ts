import { connectLive, liveUrl, type LiveConnection } from '../../src/client/watch.ts'
import type { GavelEvent } from '../../src/events.ts'

/**
 * The chaos run's watchers. A raw watcher is a plain WebSocket that does what the protocol
 * asks of a client and nothing more: subscribe with `since` = the last seq it has, and after a
 * close, reconnect and subscribe again the same way (an error frame for an auction: subscribe
 * again a little later). It does no reordering, dropping or gap filling of its own, so what it
 * records is exactly what the server sent. A client watcher is the exported `watch()` machinery
 * (`connectLive`, several auctions on one socket), recording what it hands the application.
 */

export interface ReceivedEvent {
	seq: number
	/** The frame's text as received (raw watchers), or the event re-serialised (watch()). */
	raw: string
	at: number
}

export interface WatcherRecord {
	name: string
	kind: 'raw' | 'watch()'
	url: string
	auctions: string[]
	received: Map<string, ReceivedEvent[]>
	resets: Array<{ auction: string; seq: number; at: number }>
	errors: Array<{ auction?: string; code: string; at: number }>
	/** Raw: sockets opened again after a close; watch(): watches that went `reconnecting`. */
	reconnects: number
	startedAt: number
}

export interface Watcher {
	record: WatcherRecord
	/** The last seq this watcher has of an auction. */
	last(auction: string): number
	/** Whether a watch ended by itself (watch() stops on NOT_FOUND): it will get nothing more. */
	ended(auction: string): boolean
	close(): void
}

const RESUBSCRIBE_MS = 300

/** A raw watcher: one WebSocket, `since` = last seq on every (re)subscribe, nothing else. */
export function rawWatcher(name: string, baseUrl: string, auctions: string[]): Watcher {
	const url = liveUrl(baseUrl)
	const record: WatcherRecord = { name, kind: 'raw', url, auctions, received: new Map(auctions.map((a) => [a, []])), resets: [], errors: [], reconnects: 0, startedAt: Date.now() }
	const since = new Map(auctions.map((a) => [a, 0]))
	let ws: WebSocket | null = null
	let closed = false
	let failures = 0
	let opened = 0

	const subscribe = (socket: WebSocket, auction: string) => {
		if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ op: 'subscribe', auction, since: since.get(auction)! }))
	}

	const connect = () => {
		if (closed) return
		const socket = new WebSocket(url)
		ws = socket
		socket.onopen = () => {
			if (opened++ > 0) record.reconnects++
			failures = 0
			for (const auction of auctions) subscribe(socket, auction)
		}
		socket.onmessage = (message) => {
			const text = String(message.data)
			const frame = JSON.parse(text) as { type: string; auction?: string; seq?: number; code?: string }
			const at = Date.now()
			if (frame.type === 'error') {
				record.errors.push({ auction: frame.auction, code: frame.code ?? '?', at })
				const auction = frame.auction
				if (auction !== undefined && since.has(auction)) setTimeout(() => ws === socket && subscribe(socket, auction), RESUBSCRIBE_MS)
				return
			}
			if (frame.type === 'reset') {
				// The events after our seq are gone from the store's window: go on from the state.
				record.resets.push({ auction: frame.auction!, seq: frame.seq!, at })
				since.set(frame.auction!, frame.seq!)
				return
			}
			if (frame.type === 'subscribed' || frame.type === 'unsubscribed') return
			const auction = frame.auction!
			record.received.get(auction)?.push({ seq: frame.seq!, raw: text, at })
			// As sent: the last one received is where a reconnect starts, whatever came before.
			since.set(auction, frame.seq!)
		}
		socket.onclose = () => {
			if (ws !== socket || closed) return
			ws = null
			setTimeout(connect, Math.min(100 * 2 ** failures++, 1_000))
		}
		socket.onerror = () => {}
	}
	connect()
	return {
		record,
		last: (auction) => since.get(auction) ?? 0,
		ended: () => false,
		close() {
			closed = true
			ws?.close()
		},
	}
}

/** A watch() client: `connectLive` with a watch per auction from seq 0, recording what onEvent hands over. */
export function clientWatcher(name: string, baseUrl: string, auctions: string[]): Watcher {
	const record: WatcherRecord = {
		name,
		kind: 'watch()',
		url: liveUrl(baseUrl),
		auctions,
		received: new Map(auctions.map((a) => [a, []])),
		resets: [],
		errors: [],
		reconnects: 0,
		startedAt: Date.now(),
	}
	const connection: LiveConnection = connectLive(baseUrl, { backoff: { baseMs: 100, maxMs: 1_000 } })
	const watches = auctions.map((auction) =>
		connection.watch(auction, {
			since: 0,
			onEvent: (event: GavelEvent) => record.received.get(auction)!.push({ seq: event.seq, raw: JSON.stringify(event), at: Date.now() }),
			onReset: (state) => record.resets.push({ auction, seq: state.seq, at: Date.now() }),
			onError: (error) => record.errors.push({ auction: error.auction ?? auction, code: error.code, at: Date.now() }),
			onStatus: (status) => {
				if (status === 'reconnecting') record.reconnects++
			},
		}),
	)
	return {
		record,
		last: (auction) => watches[auctions.indexOf(auction)]?.seq ?? 0,
		ended: (auction) => watches[auctions.indexOf(auction)]?.status === 'closed',
		close: () => connection.close(),
	}
}
