import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { watch, type GavelEvent, type WatchStatus } from '../../src/client/index.ts'
import type { ErrorFrame, LiveFrame, SubscribedFrame } from '../../src/modules/live/model.ts'
import { startTestGavel, type TestGavel } from '../helpers/gavel.ts'
import { bidDriver, type BidDriver } from '../helpers/bids.ts'
import { eventually, liveUrl, openLive, openRawLive, watchLive, type LiveClient } from '../helpers/ws.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'

// Real services and many sockets on a shared 2-core machine: give each test room (bunfig's
// `timeout` is not a bun test setting; the default is 5 s).
setDefaultTimeout(20_000)

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)
const isError = (code: string) => (f: LiveFrame) => f.type === 'error' && f.code === code

// The same suite for the embedded adapters and for Redis + NATS: the protocol must not depend on them.
describe.each([
	['embedded store and bus', false],
	['Redis store and NATS bus', true],
])('live watchers over /live (%s)', (_, real) => {
	let g: TestGavel
	let d: BidDriver
	const open: LiveClient[] = []
	const track = (c: LiveClient) => (open.push(c), c)

	beforeAll(async () => {
		g = await startTestGavel({
			real,
			// Dozens of sockets from 127.0.0.1 stay open until the end: no per-address cap in the way.
			env: { EVENTS_KEPT: '100', LIVE_MAX_SUBSCRIPTIONS: '5', RATE_LIMIT_BIDS_PER_SEC: '0', LIVE_MAX_SOCKETS_PER_IP: '0' },
		})
		d = await bidDriver(g.url)
	})
	afterAll(async () => {
		for (const c of open) c.close()
		await g.stop()
	})

	test('watchers see every bid once, in order, with dense seqs, however they subscribed', async () => {
		const a = await d.create()
		const byQuery = track(await watchLive(g.url, a))
		const fromZero = track(await watchLive(g.url, a, 0))
		const byOp = track(await openLive(liveUrl(g.url)))
		byOp.send({ op: 'subscribe', auction: a })
		const subscribed = (await byOp.next((f) => f.type === 'subscribed', 'subscribed')) as SubscribedFrame
		expect(subscribed).toMatchObject({ type: 'subscribed', auction: a, seq: 0, state: { id: a, seq: 0, price: null } })

		const last = await d.bids(a, 60)
		for (const c of [byQuery, fromZero, byOp]) await eventually(() => c.events(a).length >= last, 'every bid')
		for (const c of [byQuery, fromZero, byOp]) expect(c.seqs(a)).toEqual(range(1, 60))
		// The frames are the stored event JSON, byte for byte, as the HTTP recovery route gives it.
		const http = (await (await fetch(`${g.url}/auctions/${a}/events?since=0`)).json()) as { items: GavelEvent[] }
		expect(byOp.raw.slice(1).map((s) => JSON.parse(s))).toEqual(http.items)
		expect(byOp.raw.slice(1)).toEqual(http.items.map((e) => JSON.stringify(e)))
	})

	test('a reconnect with since replays exactly the missing events, then live ones follow', async () => {
		const a = await d.create()
		const first = track(await watchLive(g.url, a))
		await d.bids(a, 10)
		await eventually(() => first.events(a).length === 10, 'the first ten')
		first.close()
		await first.closed
		await d.bids(a, 15)

		const again = track(await openLive(liveUrl(g.url, { auction: a, since: 10 })))
		await eventually(() => again.events(a).length === 15, 'the replay')
		expect(again.frames[0]).toMatchObject({ type: 'subscribed', auction: a, seq: 25, state: { seq: 25, bidCount: 25 } })
		await d.bids(a, 5)
		await eventually(() => again.events(a).length === 20, 'the live events')
		expect(again.seqs(a)).toEqual(range(11, 30))
	})

	test('a since older than the kept window gets a reset with the state, then live events; HTTP agrees', async () => {
		const a = await d.create()
		await d.bids(a, 250) // EVENTS_KEPT is 100 (Redis trims approximately, so well past it)
		const old = track(await openLive(liveUrl(g.url, { auction: a, since: 5 })))
		const reset = await old.next((f) => f.type === 'reset', 'reset')
		expect(reset).toMatchObject({ type: 'reset', auction: a, seq: 250, state: { id: a, seq: 250, bidCount: 250 } })
		await d.bids(a, 2)
		await eventually(() => old.events(a).length === 2, 'live events after the reset')
		expect(old.seqs(a)).toEqual([251, 252])
		expect(await (await fetch(`${g.url}/auctions/${a}/events?since=5`)).json()).toMatchObject({ reset: true, auction: { id: a } })

		// A seq the server never handed out is a stale view: reset too, over both ways.
		const future = track(await openLive(liveUrl(g.url, { auction: a, since: 9999 })))
		expect(await future.next((f) => f.type !== 'error', 'a frame')).toMatchObject({ type: 'reset', seq: 252 })
		expect(await (await fetch(`${g.url}/auctions/${a}/events?since=9999`)).json()).toMatchObject({ reset: true })
		// Inside the window the two ways give the same events.
		const recent = track(await watchLive(g.url, a, 240))
		await eventually(() => recent.events(a).length === 12, 'the recent replay')
		const http = (await (await fetch(`${g.url}/auctions/${a}/events?since=240`)).json()) as { items: GavelEvent[]; seq: number }
		expect(recent.events(a)).toEqual(http.items)
		expect(http.seq).toBe(252)
	})

	test('watchers that subscribe while bids are flowing miss nothing and get nothing twice', async () => {
		const a = await d.create()
		const watchers: Array<{ client: LiveClient; since?: number }> = []
		let latest = 0
		const bidding = (async () => {
			for (let i = 0; i < 15; i++) latest = await d.bids(a, 20)
		})()
		for (let i = 0; i < 16; i++) {
			const since = i % 2 === 0 ? Math.max(0, latest - 1 - (i % 5)) : undefined
			const client = track(await openLive(liveUrl(g.url, since === undefined ? { auction: a } : { auction: a, since })))
			watchers.push({ client, since })
			await Bun.sleep(i % 3) // spread the subscribes over the bidding
		}
		await bidding
		expect(latest).toBe(300)
		for (const { client, since } of watchers) {
			const what = () => `the last bid (since ${since}; frames: ${client.raw.slice(0, 2).join(' ').slice(0, 300)} … ${client.seqs(a).slice(-3)})`
			await eventually(() => client.events(a).at(-1)?.seq === 300, what(), 10_000).catch((err) => {
				throw new Error(`${(err as Error).message}: ${what()}`)
			})
			const subscribed = client.frames[0] as SubscribedFrame
			expect(subscribed.type).toBe('subscribed')
			const start = since ?? subscribed.seq
			expect(client.seqs(a)).toEqual(range(start + 1, 300))
		}
	}, 20_000)

	test('unsubscribe stops delivery for that auction only', async () => {
		const a = await d.create()
		const b = await d.create()
		const c = track(await openLive(liveUrl(g.url)))
		c.send({ op: 'subscribe', auction: a })
		await c.next((f) => f.type === 'subscribed', 'subscribed to a')
		await d.bids(a, 1)
		await eventually(() => c.events(a).length === 1, 'the first bid on a')
		c.send({ op: 'unsubscribe', auction: a })
		await c.next((f) => f.type === 'unsubscribed', 'unsubscribed')
		c.send({ op: 'subscribe', auction: b })
		await c.next((f) => f.type === 'subscribed' && f.auction === b, 'subscribed to b')
		await d.bids(a, 3)
		await d.bids(b, 1)
		// b's event was published after a's three: had any of those been sent, it came first.
		await eventually(() => c.events(b).length === 1, 'the bid on b')
		expect(c.seqs(a)).toEqual([1])
		expect(c.frames.find((f) => f.type === 'unsubscribed')).toEqual({ type: 'unsubscribed', auction: a })
	})

	test('bad frames get typed error frames and the socket stays open', async () => {
		const a = await d.create()
		const c = track(await openLive(liveUrl(g.url)))
		const cases: Array<[unknown, string]> = [
			['not json', 'BAD_FRAME'],
			['[1,2]', 'BAD_FRAME'],
			['"subscribe"', 'BAD_FRAME'],
			[{ auction: a }, 'BAD_FRAME'],
			[{ op: 'dance' }, 'UNKNOWN_OP'],
			[{ op: 'subscribe' }, 'BAD_FRAME'],
			[{ op: 'subscribe', auction: 'has spaces' }, 'BAD_FRAME'],
			[{ op: 'subscribe', auction: a, since: -1 }, 'BAD_FRAME'],
			[{ op: 'subscribe', auction: a, since: '3' }, 'BAD_FRAME'],
			[{ op: 'subscribe', auction: a, extra: true }, 'BAD_FRAME'],
			[{ op: 'subscribe', auction: 'no-such-auction' }, 'NOT_FOUND'],
		]
		c.ws.send(new Uint8Array([1, 2, 3]))
		for (const [frame] of cases) c.send(frame)
		await eventually(() => c.frames.length === cases.length + 1, 'one error per bad frame')
		expect(c.frames.map((f) => (f as ErrorFrame).code as string)).toEqual(['BAD_FRAME', ...cases.map(([, code]) => code)])
		expect(c.frames.every((f) => f.type === 'error' && typeof f.message === 'string')).toBe(true)
		expect(c.frames.at(-1)).toMatchObject({ auction: 'no-such-auction' })

		// Still open and working.
		c.send({ op: 'subscribe', auction: a })
		await c.next((f) => f.type === 'subscribed', 'subscribed after the errors')
		await d.bids(a, 1)
		await eventually(() => c.events(a).length === 1, 'a live event')

		const badQuery = track(await openLive(liveUrl(g.url, { auction: 'bad id!' })))
		expect(await badQuery.next(() => true, 'a frame')).toMatchObject({ type: 'error', code: 'BAD_FRAME' })
		const res = await fetch(`${g.url}/live`)
		expect(res.status).toBe(426)
		expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UPGRADE_REQUIRED')
	})

	test('subscriptions per connection are limited, and a subscribe flood is refused, not served', async () => {
		const ids = await Promise.all(range(1, 6).map(() => d.create()))
		const c = track(await openLive(liveUrl(g.url)))
		for (const id of ids) c.send({ op: 'subscribe', auction: id })
		await eventually(() => c.frames.length === 6, 'six answers')
		expect(c.frames.filter((f) => f.type === 'subscribed')).toHaveLength(5)
		expect(c.frames.find(isError('TOO_MANY_SUBSCRIPTIONS'))).toMatchObject({ auction: ids[5], limit: 5 })
		c.send({ op: 'subscribe', auction: ids[0], since: 0 }) // again: a re-sync, not a sixth
		await c.next((f) => f.type === 'subscribed' && f.auction === ids[0], 'the re-sync', 6)
		c.send({ op: 'unsubscribe', auction: ids[1] })
		c.send({ op: 'subscribe', auction: ids[5] }) // room again
		await c.next((f) => f.type === 'subscribed' && f.auction === ids[5], 'the sixth after an unsubscribe', 7)

		const bystander = track(await watchLive(g.url, ids[5]!))
		const flood = track(await openLive(liveUrl(g.url)))
		for (let i = 0; i < 1_000; i++) flood.send({ op: 'subscribe', auction: `flood-${i}` })
		await eventually(() => flood.frames.length === 1_000, 'an answer to every op', 10_000)
		expect(flood.frames.every((f) => f.type === 'error')).toBe(true)
		expect(flood.frames.filter(isError('RATE_LIMITED')).length).toBeGreaterThan(500)
		expect((await fetch(`${g.url}/readyz`)).status).toBe(200)
		await d.bids(ids[5]!, 2)
		await eventually(() => bystander.events().length === 2, 'the bystander keeps receiving')
	})

	test('a frame over the size limit closes that socket with 1009 and nobody else', async () => {
		const a = await d.create()
		const bystander = track(await watchLive(g.url, a))
		const big = track(await openLive(liveUrl(g.url)))
		big.send({ op: 'subscribe', auction: a, pad: 'x'.repeat(8 * 1024) })
		expect((await big.closed).code).toBe(1009)
		await d.bids(a, 1)
		await eventually(() => bystander.events(a).length === 1, 'the bystander keeps receiving')
	})

	test('the watch client follows an auction across dropped connections, each event once and in order', async () => {
		const a = await d.create()
		const proxy = await startTcpProxy({ host: '127.0.0.1', port: g.gavel.port })
		const events: GavelEvent[] = []
		const states: number[] = []
		const statuses: WatchStatus[] = []
		const watcher = watch(`http://127.0.0.1:${proxy.port}`, a, {
			since: 0,
			onEvent: (e) => events.push(e),
			onState: (s) => states.push(s.seq),
			onStatus: (s) => statuses.push(s),
			backoff: { baseMs: 10, maxMs: 50 },
		})
		try {
			await d.bids(a, 10)
			await eventually(() => events.length === 10, 'the first ten')
			await proxy.close() // the connection drops and reconnects are refused
			await eventually(() => watcher.status === 'reconnecting', 'the client noticed')
			await d.bids(a, 10) // while it cannot get through
			await proxy.open()
			await eventually(() => events.length === 20, 'the missed ten')
			await proxy.close() // once more, while live events flow
			await proxy.open()
			await d.bids(a, 10)
			await eventually(() => events.length === 30, 'all thirty')
			expect(events.map((e) => e.seq)).toEqual(range(1, 30))
			expect(states.length).toBeGreaterThanOrEqual(2)
			expect(statuses).toContain('reconnecting')
			expect(watcher.seq).toBe(30)
		} finally {
			watcher.close()
			await proxy.close()
		}
		expect(watcher.status).toBe('closed')
	})

	test('the watch client reports NOT_FOUND and stops', async () => {
		const errors: string[] = []
		const watcher = watch(g.url, 'never-created', { onEvent: () => {}, onError: (e) => errors.push(e.code) })
		await eventually(() => watcher.status === 'closed', 'the watch to end')
		expect(errors).toEqual(['NOT_FOUND'])
	})

	test('metrics count connections, subscriptions and frames', async () => {
		const text = await (await fetch(`${g.url}/metrics`)).text()
		const value = (name: string) => Number(/^(\S+) (\S+)$/m.exec(text.split('\n').find((l) => l.startsWith(`${name} `)) ?? '')?.[2])
		expect(value('gavel_ws_connections')).toBeGreaterThan(0)
		expect(value('gavel_ws_subscriptions')).toBeGreaterThan(0)
		expect(value('gavel_ws_frames_sent_total')).toBeGreaterThan(100)
		expect(value('gavel_live_fanout_delay_seconds_count')).toBeGreaterThan(0)
		expect(text).toContain('gavel_ws_error_frames_total{code="BAD_FRAME"}')
	})
})

describe('live shutdown', () => {
	test('stopping gavel closes watchers with 1001 (going away)', async () => {
		const g = await startTestGavel()
		let stopped = false
		try {
			const d = await bidDriver(g.url)
			const a = await d.create()
			const c = await watchLive(g.url, a)
			const raw = await openRawLive(liveUrl(g.url))
			await g.stop()
			stopped = true
			expect(await c.closed).toEqual({ code: 1001, reason: 'server shutting down' })
			await eventually(() => raw.close !== null, 'the close frame')
			expect(raw.close!.code).toBe(1001)
		} finally {
			if (!stopped) await g.stop()
		}
	})
})
