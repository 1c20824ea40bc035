import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import type { GavelEvent } from '../../src/events.ts'
import { startTestGavel, type TestGavel } from '../helpers/gavel.ts'
import { bidDriver, type BidDriver } from '../helpers/bids.ts'
import { eventually, liveUrl, openLive, openRawLive, watchLive, type LiveClient } from '../helpers/ws.ts'

// Real services and many sockets on a shared 2-core machine: give each test room (bunfig's
// `timeout` is not a bun test setting; the default is 5 s).
setDefaultTimeout(20_000)

const WATCHERS = 100
const AUCTIONS = 4
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** The counter's value in Prometheus text. */
async function metric(url: string, name: string): Promise<number> {
	const line = (await (await fetch(`${url}/metrics`)).text()).split('\n').find((l) => l.startsWith(`${name} `))
	return Number(line?.split(' ')[1] ?? Number.NaN)
}

describe('a slow consumer', () => {
	let g: TestGavel
	let d: BidDriver
	beforeAll(async () => {
		// 100 sockets from one address: no per-IP request or socket limit in the way.
		g = await startTestGavel({
			env: { LIVE_SEND_BUFFER_BYTES: String(64 * 1024), RATE_LIMIT_BIDS_PER_SEC: '0', RATE_LIMIT_IP_PER_SEC: '0', LIVE_MAX_SOCKETS_PER_IP: '0' },
		})
		// Long names make fat events, so the loopback socket buffers (~4 MB) fill with fewer bids.
		d = await bidDriver(g.url, { bidders: ['b'.repeat(128), 'c'.repeat(128)] })
	})
	afterAll(() => g.stop())

	test('is closed with 4008 while the others receive every event, and catches up with since', async () => {
		// Bids on a few auctions at once fill the slow socket faster; everyone watches all of them.
		const auctions = await Promise.all(range(1, AUCTIONS).map(() => d.create({ id: 's'.repeat(48) + crypto.randomUUID().slice(0, 16) })))
		const subscribeAll = async (c: { send(f: unknown): void }, texts: () => unknown[]) => {
			for (const a of auctions) c.send({ op: 'subscribe', auction: a })
			await eventually(() => texts().length === AUCTIONS, 'subscribed to every auction')
		}
		const others: LiveClient[] = []
		for (let i = 0; i < WATCHERS; i++) {
			const c = await openLive(liveUrl(g.url))
			await subscribeAll(c, () => c.frames)
			others.push(c)
		}
		const slow = await openRawLive(liveUrl(g.url))
		await subscribeAll(slow, () => slow.texts)
		slow.pause() // from here on it reads nothing: its send buffer on the server grows

		const last = new Map<string, number>()
		for (let round = 0; (await metric(g.url, 'gavel_ws_slow_consumer_closes_total')) < 1; round++) {
			if (round === 100) throw new Error('the slow consumer was never closed')
			await Promise.all(auctions.map(async (a) => last.set(a, await d.bids(a, 100))))
		}
		// The others got everything while the slow one was stuck: it delayed nobody.
		for (const c of others)
			for (const a of auctions) await eventually(() => c.events(a).length === last.get(a), 'every event at every other watcher', 15_000)
		for (const c of others) for (const a of auctions) expect(c.seqs(a)).toEqual(range(1, last.get(a)!))

		slow.resume()
		await eventually(() => slow.close !== null, 'the close frame', 15_000)
		expect(slow.close).toEqual({ code: 4008, reason: 'slow consumer' })
		const got = slow.texts.slice(AUCTIONS).map((t) => JSON.parse(t) as GavelEvent)
		// What was already queued when it was closed may still arrive (a close is graceful), so it
		// can hold anything from a prefix to everything; never more, never out of order.
		expect(got.length).toBeLessThanOrEqual([...last.values()].reduce((x, y) => x + y))

		// Reconnecting with its last seq per auction brings the rest, then live events.
		for (const a of auctions) {
			const mine = got.filter((e) => e.auction === a).map((e) => e.seq)
			expect(mine).toEqual(range(1, mine.length)) // what it got is a dense prefix
			const back = await watchLive(g.url, a, mine.length)
			await d.bids(a, 1)
			await eventually(() => back.events(a).at(-1)?.seq === last.get(a)! + 1, 'the rest')
			expect(back.seqs(a)).toEqual(range(mine.length + 1, last.get(a)! + 1))
			back.close()
		}
		for (const c of others) c.close()
	}, 60_000)
})
