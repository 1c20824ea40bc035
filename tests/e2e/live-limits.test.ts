// What one client can make gavel hold on /live (README "Watching live", docs/design.md §5):
// sockets that never read, measured through the server's own /metrics, never its RSS.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import type { GavelEvent } from '../../src/events.ts'
import type { LiveFrame } from '../../src/modules/live/model.ts'
import { startTestGavel, type TestGavel } from '../helpers/gavel.ts'
import { bidDriver, type BidDriver } from '../helpers/bids.ts'
import { rawHttp } from '../helpers/raw-http.ts'
import { eventually, liveUrl, openLive, openRawLive, type LiveClient, type RawLiveClient } from '../helpers/ws.ts'

// Real sockets, a thousand events and a few hundred replays on a shared 2-core machine.
setDefaultTimeout(60_000)

const SEND_BUFFER = 16 * 1024 // the smallest LIVE_SEND_BUFFER_BYTES: a replay goes in many pieces
const SOCKETS = 4
const SUBSCRIBES = 200
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** One scrape of the server's /metrics: an unlabelled sample by name (NaN when there is none). */
type Scrape = (name: string) => number

async function scrape(url: string): Promise<Scrape> {
	const text = await (await fetch(`${url}/metrics`)).text()
	const samples = new Map<string, number>()
	for (const line of text.split('\n')) {
		const match = /^([a-z_]+) (\S+)$/.exec(line)
		if (match) samples.set(match[1]!, Number(match[2]))
	}
	return (name) => samples.get(name) ?? Number.NaN
}

/** Polls /metrics until `done` holds for a scrape, and returns that scrape. */
async function scrapeUntil(url: string, done: (m: Scrape) => boolean, what: string, ms = 20_000): Promise<Scrape> {
	const deadline = Date.now() + ms
	for (;;) {
		const m = await scrape(url)
		if (done(m)) return m
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last scrape: ${JSON.stringify(live(m))})`)
		await Bun.sleep(10)
	}
}

const live = (m: Scrape) => ({
	maxBytes: m('gavel_ws_send_buffer_max_bytes'),
	totalBytes: m('gavel_ws_send_buffer_bytes'),
	waiting: m('gavel_ws_replays_waiting'),
	frames: m('gavel_ws_frames_sent_total'),
	subscriptions: m('gavel_ws_subscriptions'),
	connections: m('gavel_ws_connections'),
})

// The same for the embedded store and for Redis + NATS: a paused replay reads the store again.
describe.each([
	['embedded store and bus', false],
	['Redis store and NATS bus', true],
])('what one client can make gavel queue on /live (%s)', (_, real) => {
	let g: TestGavel
	let d: BidDriver
	let big: string
	let last: number
	/** What one socket may have queued: the send buffer and one frame (the largest there is here). */
	let bound: number
	beforeAll(async () => {
		g = await startTestGavel({
			real,
			env: { LIVE_SEND_BUFFER_BYTES: String(SEND_BUFFER), RATE_LIMIT_BIDS_PER_SEC: '0', RATE_LIMIT_IP_PER_SEC: '0' },
		})
		// Long names make fat events: a replay of the whole kept window is ~650 KB, forty send buffers.
		d = await bidDriver(g.url, { bidders: ['b'.repeat(128), 'c'.repeat(128)] })
		big = await d.create()
		// With auction.created and the 25 bids to come: just under the 1,000 events the store keeps,
		// so a replay from 0 is still whole when the paused sockets read again.
		last = await d.bids(big, 950)
		const page = (await (await fetch(`${g.url}/auctions/${big}/events?since=0`)).json()) as { items: GavelEvent[] }
		const state = await (await fetch(`${g.url}/auctions/${big}`)).text()
		const largest = Math.max(state.length + 200, ...page.items.map((e) => Buffer.byteLength(JSON.stringify(e))))
		bound = SEND_BUFFER + largest + 14 // + the WebSocket frame header
	})
	afterAll(() => g.stop())

	/**
	 * Opens a socket that reads nothing, and subscribes it to `auction` from 0 one op at a time
	 * until the kernel's socket buffers are full (loopback takes a few MB) and gavel has to hold
	 * a replay back; then sends the rest of `subscribes` at once. Every scrape meanwhile must show
	 * no socket over the bound.
	 */
	async function stuckSubscriber(auction: string, events: number, subscribes: number): Promise<RawLiveClient> {
		const c = await openRawLive(liveUrl(g.url))
		c.pause()
		const waiting = (await scrape(g.url))('gavel_ws_replays_waiting')
		let i = 0
		for (; i < subscribes; i++) {
			const before = await scrape(g.url)
			c.send({ op: 'subscribe', auction, since: 0 })
			const m = await scrapeUntil(
				g.url,
				(m) => m('gavel_ws_replays_waiting') > waiting || m('gavel_ws_frames_sent_total') >= before('gavel_ws_frames_sent_total') + events,
				`subscribe ${i + 1} to be answered or to wait`,
			)
			expect(m('gavel_ws_send_buffer_max_bytes')).toBeLessThanOrEqual(bound)
			if (m('gavel_ws_replays_waiting') > waiting) break
		}
		expect(i).toBeLessThan(subscribes) // the kernel buffers did fill up
		for (i++; i < subscribes; i++) c.send({ op: 'subscribe', auction, since: 0 })
		return c
	}

	const framesOf = (c: RawLiveClient) => c.texts.map((t) => JSON.parse(t) as LiveFrame)
	const lastSeq = (c: RawLiveClient, auction: string) => framesOf(c).findLast((f): f is GavelEvent => 'id' in f && f.auction === auction)?.seq
	/** The events of `auction` after the last head frame (`subscribed` or `reset`) for it, and that frame. */
	const sinceLastHead = (c: RawLiveClient, auction: string) => {
		const all = framesOf(c)
		const at = all.findLastIndex((f) => (f.type === 'subscribed' || f.type === 'reset') && f.auction === auction)
		const events = all.slice(at + 1).filter((f): f is GavelEvent => 'id' in f && f.auction === auction)
		return { head: all[at], seqs: events.map((e) => e.seq) }
	}

	test('sockets that never read, subscribing 200 times from 0, each hold at most the send buffer; then they get every event once, in order', async () => {
		const small = await d.create()
		const clients: RawLiveClient[] = []
		for (let k = 0; k < SOCKETS; k++) {
			// 199 from 0, then a second auction as the 200th (a socket may send 200 ops at once):
			// once that subscription counts, every op before it was handled.
			const c = await stuckSubscriber(big, last, SUBSCRIBES - 1)
			clients.push(c)
			c.send({ op: 'subscribe', auction: small })
			await scrapeUntil(g.url, (m) => m('gavel_ws_subscriptions') === 2 * (k + 1), `socket ${k + 1}'s ops to be handled`)
		}
		// Meanwhile the auction goes on: the paused replays must bring these too, after the rest.
		const more = await d.bids(big, 20)
		const settled = await scrapeUntil(g.url, (m) => m('gavel_ws_replays_waiting') === SOCKETS, 'every socket to wait for room')
		expect(settled('gavel_ws_send_buffer_max_bytes')).toBeLessThanOrEqual(bound)
		expect(settled('gavel_ws_send_buffer_bytes')).toBeLessThanOrEqual(SOCKETS * bound)
		expect(settled('gavel_ws_slow_consumer_closes_total')).toBe(0)

		// Reading again: each socket gets the rest of its last replay, joins the live stream and
		// follows both auctions. Its last `subscribed` for the big one starts a dense run to the end.
		for (const c of clients) c.resume()
		await d.bids(big, 5)
		await d.bids(small, 3)
		for (const c of clients) {
			await eventually(() => lastSeq(c, big) === more + 5 && lastSeq(c, small) === 3, 'the live events after the replays', 20_000)
			const { head, seqs } = sinceLastHead(c, big)
			expect(head).toMatchObject({ type: 'subscribed', auction: big })
			expect(seqs).toEqual(range(1, more + 5))
			expect(sinceLastHead(c, small).seqs).toEqual([1, 2, 3])
			expect(c.close).toBeNull()
			c.end()
		}
		await scrapeUntil(g.url, (m) => m('gavel_ws_connections') === 0 && m('gavel_ws_replays_waiting') === 0, 'the sockets to be gone')
	})

	test('a replay paused until its since left the kept window ends in a reset, and live events follow it', async () => {
		const a = await d.create()
		const n = await d.bids(a, 999)
		const c = await stuckSubscriber(a, n, 100)
		// Far past the window (Redis trims approximately, the memory store in steps).
		const now = await d.bids(a, 250)
		c.resume()
		await eventually(() => sinceLastHead(c, a).head?.type === 'reset', 'the reset', 20_000)
		const end = await d.bids(a, 2)
		await eventually(() => lastSeq(c, a) === end, 'the live events after the reset', 20_000)
		const { head, seqs } = sinceLastHead(c, a)
		expect(head).toMatchObject({ type: 'reset', auction: a, state: { id: a } })
		const from = (head as { seq: number }).seq
		expect(from).toBeGreaterThanOrEqual(now)
		expect(seqs).toEqual(range(from + 1, end))
		c.end()
	})
})

/** A WebSocket handshake for `/live` written by hand, so that a refusal's status and body can be read. */
function upgrade(url: string, headers: Record<string, string> = {}) {
	const { host } = new URL(url)
	const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`)
	return rawHttp(
		url,
		`GET /live HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
			`Sec-WebSocket-Key: ${btoa('0123456789abcdef')}\r\nSec-WebSocket-Version: 13\r\n${extra.join('')}\r\n`,
		{ waitMs: 500 },
	)
}

describe('WebSockets per client address (LIVE_MAX_SOCKETS_PER_IP)', () => {
	test('one over the limit is refused with a JSON 429 before the upgrade, and a close makes room', async () => {
		const g = await startTestGavel({ env: { LIVE_MAX_SOCKETS_PER_IP: '3', RATE_LIMIT_IP_PER_SEC: '0' } })
		const open: LiveClient[] = []
		try {
			for (let i = 0; i < 3; i++) open.push(await openLive(liveUrl(g.url)))
			const [refused] = await upgrade(g.url)
			expect(refused!.status).toBe(429)
			expect(refused!.headers['content-type']).toBe('application/json')
			expect(JSON.parse(refused!.body)).toEqual({
				error: { code: 'TOO_MANY_CONNECTIONS', message: 'at most 3 WebSockets per client address; close one first', limit: 3 },
			})
			expect((await scrape(g.url))('gavel_ws_connections')).toBe(3)
			// A plain GET is still told what /live is, and the HTTP API is not limited by it.
			const plain = await fetch(`${g.url}/live`)
			expect(plain.status).toBe(426)
			expect(((await plain.json()) as { error: { code: string } }).error.code).toBe('UPGRADE_REQUIRED')
			expect((await fetch(`${g.url}/auctions`)).status).toBe(200)

			open.shift()!.close()
			await scrapeUntil(g.url, (m) => m('gavel_ws_connections') === 2, 'the close to count')
			const again = await openLive(liveUrl(g.url))
			open.push(again)
			again.send({ op: 'subscribe', auction: 'none-such' })
			await again.next((f) => f.type === 'error', 'an answer on the new socket')
			expect((await upgrade(g.url))[0]!.status).toBe(429)
		} finally {
			for (const c of open) c.close()
			await g.stop()
		}
	})

	test('behind a proxy (TRUST_PROXY) the address is the last X-Forwarded-For entry', async () => {
		const g = await startTestGavel({ env: { LIVE_MAX_SOCKETS_PER_IP: '1', RATE_LIMIT_IP_PER_SEC: '0', TRUST_PROXY: 'true' } })
		const open: RawLiveClient[] = []
		try {
			open.push(await openRawLive(liveUrl(g.url), { headers: { 'X-Forwarded-For': '198.51.100.7' } }))
			// What the client put before the load balancer's entry does not make it someone else.
			const [same] = await upgrade(g.url, { 'X-Forwarded-For': '203.0.113.1, 198.51.100.7' })
			expect(same!.status).toBe(429)
			open.push(await openRawLive(liveUrl(g.url), { headers: { 'X-Forwarded-For': '198.51.100.7, 198.51.100.8' } }))
			open.push(await openRawLive(liveUrl(g.url))) // no header: the peer address, 127.0.0.1
			expect((await upgrade(g.url))[0]!.status).toBe(429)
			expect((await scrape(g.url))('gavel_ws_connections')).toBe(3)
		} finally {
			for (const c of open) c.end()
			await g.stop()
		}
	})

	test('TRUST_PROXY as CIDRs: trusted hops are skipped, and only a trusted peer is believed', async () => {
		// The test's peer is 127.0.0.1, a trusted proxy here; 10.0.0.0/8 stands for the VPC.
		const g = await startTestGavel({ env: { LIVE_MAX_SOCKETS_PER_IP: '1', RATE_LIMIT_IP_PER_SEC: '0', TRUST_PROXY: '127.0.0.0/8,10.0.0.0/8' } })
		const direct = await startTestGavel({ env: { LIVE_MAX_SOCKETS_PER_IP: '1', RATE_LIMIT_IP_PER_SEC: '0', TRUST_PROXY: '10.0.0.0/8' } })
		const open: RawLiveClient[] = []
		try {
			open.push(await openRawLive(liveUrl(g.url), { headers: { 'X-Forwarded-For': '198.51.100.7, 10.0.4.4' } }))
			// The same client through another proxy, with a forged entry of its own before: still one client.
			const [same] = await upgrade(g.url, { 'X-Forwarded-For': '203.0.113.1, 198.51.100.7' })
			expect(same!.status).toBe(429)
			open.push(await openRawLive(liveUrl(g.url), { headers: { 'X-Forwarded-For': '198.51.100.8, 10.0.4.4' } }))
			// A peer outside the trusted ranges: its header is ignored, it is 127.0.0.1 whatever it says.
			open.push(await openRawLive(liveUrl(direct.url), { headers: { 'X-Forwarded-For': '198.51.100.9' } }))
			const [forged] = await upgrade(direct.url, { 'X-Forwarded-For': '198.51.100.10' })
			expect(forged!.status).toBe(429)
		} finally {
			for (const c of open) c.end()
			await g.stop()
			await direct.stop()
		}
	})

	test.each([
		['the default', {}, 50],
		['0', { LIVE_MAX_SOCKETS_PER_IP: '0' }, null],
	])('%s: 50 sockets per address, or no limit', async (_, env: Record<string, string>, limit) => {
		const g = await startTestGavel({ env: { RATE_LIMIT_IP_PER_SEC: '0', ...env } })
		const open: LiveClient[] = []
		try {
			for (let i = 0; i < 50; i++) open.push(await openLive(liveUrl(g.url)))
			const [next] = await upgrade(g.url)
			if (limit === null) expect(next!.status).toBe(101)
			else expect(JSON.parse(next!.body)).toMatchObject({ error: { code: 'TOO_MANY_CONNECTIONS', limit } })
		} finally {
			for (const c of open) c.close()
			await g.stop()
		}
	})
})
