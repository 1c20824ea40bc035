import type { Socket } from 'bun'
import type { GavelEvent } from '../../src/events.ts'
import type { LiveFrame } from '../../src/modules/live/model.ts'
import { eventually } from '../contract/event-bus.ts'

export { eventually }

/** The `/live` URL of a running gavel, with an optional query (`{ auction: 'a1', since: 7 }`). */
export function liveUrl(baseUrl: string, query: Record<string, string | number> = {}): string {
	const url = new URL('/live', baseUrl.replace(/^http/, 'ws'))
	for (const [k, v] of Object.entries(query)) url.searchParams.set(k, String(v))
	return url.toString()
}

/** A `/live` WebSocket that records every frame (parsed and as received) and how it closed. */
export interface LiveClient {
	ws: WebSocket
	frames: LiveFrame[]
	raw: string[]
	/** The events among the frames (optionally of one auction), in arrival order. */
	events(auction?: string): GavelEvent[]
	seqs(auction?: string): number[]
	send(frame: unknown): void
	/** Resolves with the first frame after index `from` that matches. */
	next(match: (f: LiveFrame) => boolean, what: string, from?: number, ms?: number): Promise<LiveFrame>
	closed: Promise<{ code: number; reason: string }>
	close(): void
}

const isEvent = (f: LiveFrame): f is GavelEvent => 'seq' in f && 'id' in f

export async function openLive(url: string): Promise<LiveClient> {
	const ws = new WebSocket(url)
	const frames: LiveFrame[] = []
	const raw: string[] = []
	ws.onmessage = (m) => {
		raw.push(String(m.data))
		frames.push(JSON.parse(String(m.data)) as LiveFrame)
	}
	const closed = new Promise<{ code: number; reason: string }>((resolve) => {
		ws.onclose = (e) => resolve({ code: e.code, reason: e.reason })
	})
	await new Promise<void>((resolve, reject) => {
		ws.onopen = () => resolve()
		ws.onerror = () => reject(new Error(`could not open ${url}`))
	})
	const events = (auction?: string) => frames.filter((f): f is GavelEvent => isEvent(f) && (auction === undefined || f.auction === auction))
	return {
		ws,
		frames,
		raw,
		events,
		seqs: (auction) => events(auction).map((e) => e.seq),
		send: (frame) => ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)),
		async next(match, what, from = 0, ms = 5_000) {
			let found: LiveFrame | undefined
			await eventually(() => (found = frames.slice(from).find(match)) !== undefined, what, ms)
			return found!
		},
		closed,
		close: () => ws.close(),
	}
}

/** Opens a watcher and waits for its `subscribed` (or `reset`) frame. */
export async function watchLive(baseUrl: string, auction: string, since?: number): Promise<LiveClient> {
	const client = await openLive(liveUrl(baseUrl, since === undefined ? { auction } : { auction, since }))
	await client.next((f) => (f.type === 'subscribed' || f.type === 'reset') && f.auction === auction, `${auction} subscribed`)
	return client
}

/**
 * A WebSocket client on a raw TCP socket that can stop reading (`pause`), so the server's send
 * buffer for it fills up as for a stuck consumer; `resume` reads what was sent, close frame included.
 */
export interface RawLiveClient {
	texts: string[]
	close: { code: number; reason: string } | null
	ended: boolean
	pause(): void
	resume(): void
	/** Sends a text frame: a string as it is, anything else as JSON. */
	send(frame: unknown): void
	end(): void
}

/** openRawLive connects and upgrades by hand; `headers` go into the handshake (e.g. X-Forwarded-For). */
export async function openRawLive(url: string, { headers = {} }: { headers?: Record<string, string> } = {}): Promise<RawLiveClient> {
	const { hostname, port, pathname, search } = new URL(url)
	let buffer = Buffer.alloc(0)
	let upgraded = false
	const client: RawLiveClient = {
		texts: [],
		close: null,
		ended: false,
		pause: () => socket.pause(),
		resume: () => socket.resume(),
		send(frame) {
			socket.write(maskedFrame(0x1, Buffer.from(typeof frame === 'string' ? frame : JSON.stringify(frame))))
		},
		end: () => socket.end(),
	}
	let opened: () => void
	const open = new Promise<void>((resolve) => (opened = resolve))
	const parse = () => {
		if (!upgraded) {
			const end = buffer.indexOf('\r\n\r\n')
			if (end < 0) return
			if (!buffer.subarray(0, 12).toString().includes('101')) throw new Error(`upgrade refused: ${buffer.toString()}`)
			buffer = buffer.subarray(end + 4)
			upgraded = true
			opened()
		}
		for (;;) {
			if (buffer.length < 2) return
			const opcode = buffer[0]! & 0x0f
			let length = buffer[1]! & 0x7f
			let offset = 2
			if (length === 126) {
				if (buffer.length < 4) return
				length = buffer.readUInt16BE(2)
				offset = 4
			} else if (length === 127) {
				if (buffer.length < 10) return
				length = Number(buffer.readBigUInt64BE(2))
				offset = 10
			}
			if (buffer.length < offset + length) return
			const payload = buffer.subarray(offset, offset + length)
			buffer = buffer.subarray(offset + length)
			if (opcode === 0x1) client.texts.push(payload.toString())
			else if (opcode === 0x8) client.close = { code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005, reason: payload.subarray(2).toString() }
			else if (opcode === 0x9) socket.write(maskedFrame(0xa, Buffer.from(payload))) // ping → pong
		}
	}
	const socket: Socket = await Bun.connect({
		hostname,
		port: Number(port),
		socket: {
			data(_, data) {
				buffer = Buffer.concat([buffer, data])
				parse()
			},
			close() {
				client.ended = true
			},
		},
	})
	const key = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64')
	socket.write(
		`GET ${pathname}${search} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
			`Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
			Object.entries(headers)
				.map(([name, value]) => `${name}: ${value}\r\n`)
				.join('') +
			'\r\n',
	)
	await open
	return client
}

/** A client frame (RFC 6455 §5.3: client frames are masked). */
function maskedFrame(opcode: number, payload: Buffer): Buffer {
	const mask = crypto.getRandomValues(new Uint8Array(4))
	const head =
		payload.length < 126
			? Buffer.from([0x80 | opcode, 0x80 | payload.length])
			: payload.length < 65536
				? Buffer.from([0x80 | opcode, 0x80 | 126, payload.length >> 8, payload.length & 0xff])
				: (() => {
						const h = Buffer.alloc(10)
						h[0] = 0x80 | opcode
						h[1] = 0x80 | 127
						h.writeBigUInt64BE(BigInt(payload.length), 2)
						return h
					})()
	const body = Buffer.from(payload)
	for (let i = 0; i < body.length; i++) body[i]! ^= mask[i % 4]!
	return Buffer.concat([head, Buffer.from(mask), body])
}
