import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test'
import { join } from 'node:path'
import type { GavelEvent } from '../../src/events.ts'
import { startTestGavel, type TestGavel } from '../helpers/gavel.ts'
import { bidDriver, type BidDriver } from '../helpers/bids.ts'
import { describeEvent } from '../../src/cli/describe.ts'

// Real services and many sockets on a shared 2-core machine: give each test room (bunfig's
// `timeout` is not a bun test setting; the default is 5 s).
setDefaultTimeout(20_000)

let g: TestGavel
let d: BidDriver
beforeAll(async () => {
	g = await startTestGavel({ env: { RATE_LIMIT_BIDS_PER_SEC: '0' } })
	d = await bidDriver(g.url)
})
afterAll(() => g.stop())

const cli = (...args: string[]) =>
	Bun.spawn(['bun', join(import.meta.dir, '../../src/cli/main.ts'), ...args], { stdout: 'pipe', stderr: 'pipe', env: { ...process.env, GAVEL_URL: g.url } })

/** Reads a child's stdout line by line until `done` says so. */
async function readLines(stream: ReadableStream<Uint8Array>, done: (lines: string[]) => boolean): Promise<string[]> {
	const lines: string[] = []
	let rest = ''
	const reader = stream.getReader()
	while (!done(lines)) {
		const { value, done: ended } = await reader.read()
		if (ended) break
		rest += new TextDecoder().decode(value)
		const parts = rest.split('\n')
		rest = parts.pop()!
		lines.push(...parts)
	}
	reader.releaseLock()
	return lines
}

test('gavel watch --json prints every event as a JSON line and exits when the auction closes', async () => {
	// Buy now counts while the reserve is not met: the last bid closes the auction.
	const a = await d.create({ reservePrice: 10_000, buyNowPrice: 20_000 })
	await d.bids(a, 2)
	const child = cli('watch', a, '--since', '0', '--json')
	try {
		const reading = readLines(child.stdout, (lines) => lines.some((l) => l.includes('"auction.closed"')))
		await d.bids(a, 1)
		const buyer = await g.token('dora')
		const res = await fetch(`${g.url}/auctions/${a}/bids`, {
			method: 'POST',
			headers: { authorization: `Bearer ${buyer}`, 'content-type': 'application/json' },
			body: JSON.stringify({ amount: 20_000 }),
		})
		expect(res.status).toBe(201)
		const events = (await reading).map((l) => JSON.parse(l) as GavelEvent)
		expect(events.map((e) => [e.seq, e.type])).toEqual([
			[1, 'bid.placed'],
			[2, 'bid.placed'],
			[3, 'bid.placed'],
			[4, 'bid.placed'],
			[5, 'auction.closed'],
		])
		expect(events.at(-1)).toMatchObject({ winner: 'dora', price: 20_000 })
		expect(await child.exited).toBe(0) // it ends by itself once the auction closed
	} finally {
		child.kill()
	}
})

test('gavel watch on an unknown auction says NOT_FOUND and exits 1', async () => {
	const child = cli('watch', 'no-such-auction')
	expect(await child.exited).toBe(1)
	expect(await new Response(child.stderr).text()).toContain('NOT_FOUND')
})

test('the human format is one line per event', () => {
	const bid: GavelEvent = {
		id: 'x',
		type: 'bid.placed',
		auction: 'a1',
		seq: 7,
		at: Date.UTC(2030, 0, 1, 12, 0, 1, 123),
		bidder: 'bob',
		amount: 1250,
		price: 1250,
		leader: 'bob',
		proxy: false,
		endsAt: 0,
		reserveMet: true,
	}
	expect(describeEvent(bid, { currency: 'USD', endsAt: 0 })).toMatch(/^#7 \d\d:\d\d:01\.123 bob bid 12\.50 → price 12\.50 \(leader bob\)$/)
	expect(describeEvent({ ...bid, proxy: true, endsAt: 60_000 }, { currency: 'JPY', endsAt: 0 })).toMatch(
		/bob bid 1250 → price 1250 \(leader bob\) \[proxy bid, extended to \d\d:\d\d:\d\d\.000\]$/,
	)
	expect(describeEvent({ id: 'y', type: 'auction.closed', auction: 'a1', seq: 9, at: 0, winner: null, price: null, reserveMet: false }, { currency: 'USD', endsAt: null })).toContain(
		'closed without a winner (reserve not met)',
	)
})
