import { connectLive, liveUrl, type LiveConnection, type WatchSocketConstructor } from '../../src/client/watch.ts'
import type { GavelEvent } from '../../src/events.ts'

/**
 * The chaos run's watchers. A raw watcher is a plain WebSocket that does what the protocol
 * asks of a client and nothing more: subscribe with `since` = the last seq it has, and after a
 * close, reconnect and subscribe again the same way (an error frame for an auction: subscribe
 * again a little later). It does no reordering, dropping or gap filling of its own, so what it
 * records is exactly what the server sent. A client watcher is the exported `watch()` machinery
 * (`connectLive`, several auctions on one socket), recording what it hands the application.
 * Given several live instances (behind one address, as a load balancer has them), a watcher
 * starts on the first and each reconnect goes to the next: when its instance is killed it moves
 * to another and, as the protocol allows, subscribes there with the last seq it has.
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
	/** Where it started. */
	url: string
	/** Reconnects that went to another instance than the one before. */
	moves?: number
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

/** The instances a watcher goes to in turn, as base URLs: its own first, then the others. */
const turns = (baseUrls: string | readonly string[]) => (typeof baseUrls === 'string' ? [baseUrls] : [...baseUrls])

/** A raw watcher: one WebSocket, `since` = last seq on every (re)subscribe, nothing else. */
export function rawWatcher(name: string, baseUrls: string | readonly string[], auctions: string[]): Watcher {
	const urls = turns(baseUrls).map(liveUrl)
	const record: WatcherRecord = { name, kind: 'raw', url: urls[0]!, moves: 0, auctions, received: new Map(auctions.map((a) => [a, []])), resets: [], errors: [], reconnects: 0, startedAt: Date.now() }
	const since = new Map(auctions.map((a) => [a, 0]))
	let ws: WebSocket | null = null
	let closed = false
	let failures = 0
	let opened = 0
	let turn = 0

	const subscribe = (socket: WebSocket, auction: string) => {
		if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ op: 'subscribe', auction, since: since.get(auction)! }))
	}

	const connect = () => {
		if (closed) return
		const socket = new WebSocket(urls[turn % urls.length]!)
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
			if (urls.length > 1) {
				turn++
				record.moves!++
			}
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
export function clientWatcher(name: string, baseUrls: string | readonly string[], auctions: string[]): Watcher {
	const bases = turns(baseUrls)
	const urls = bases.map(liveUrl)
	const record: WatcherRecord = {
		name,
		kind: 'watch()',
		url: urls[0]!,
		moves: 0,
		auctions,
		received: new Map(auctions.map((a) => [a, []])),
		resets: [],
		errors: [],
		reconnects: 0,
		startedAt: Date.now(),
	}
	// The client's own reconnects, each socket opened on the next instance: its `since` and ordering are watch()'s.
	const WebSocket = urls.length > 1 ? rotatingSocket(urls, () => record.moves!++) : undefined
	const connection: LiveConnection = connectLive(bases[0]!, { backoff: { baseMs: 100, maxMs: 1_000 }, WebSocket })
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

/** A WebSocket class for watch() that opens each socket on the next of `urls`, whatever URL it is given. */
function rotatingSocket(urls: readonly string[], onMove: () => void): WatchSocketConstructor {
	let opened = 0
	return class extends WebSocket {
		constructor(_url: string) {
			const turn = opened++
			if (turn > 0) onMove()
			super(urls[turn % urls.length]!)
		}
	}
}
