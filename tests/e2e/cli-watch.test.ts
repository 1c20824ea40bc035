import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { join } from 'node:path'
import type { BidPlaced, GavelEvent } from '../../src/events.ts'
import { startTestGavel, type TestGavel } from '../helpers/gavel.ts'
import { bidDriver, type BidDriver } from '../helpers/bids.ts'
import { clock, describeEvent } from '../../src/cli/describe.ts'

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
	expect(await new Response(child.stderr).text()).toBe('gavel: 404 NOT_FOUND: auction not found\n')
})

/** Places one bid over HTTP and returns its event. */
async function placeBid(auction: string, bidder: string, amount: number): Promise<BidPlaced> {
	const res = await fetch(`${g.url}/auctions/${auction}/bids`, {
		method: 'POST',
		headers: { authorization: `Bearer ${await g.token(bidder)}`, 'content-type': 'application/json' },
		body: JSON.stringify({ amount }),
	})
	expect(res.status).toBe(201)
	return ((await res.json()) as { bid: BidPlaced }).bid
}

/** Opens an auction and returns its answer (the end it was created with). */
async function openAuction(body: Record<string, unknown>): Promise<{ id: string; endsAt: number }> {
	const res = await fetch(`${g.url}/auctions`, {
		method: 'POST',
		headers: { authorization: `Bearer ${await g.token('sam', ['seller'])}`, 'content-type': 'application/json' },
		body: JSON.stringify({ title: 'Soft', startingPrice: 100, increment: 10, ...body }),
	})
	expect(res.status).toBe(201)
	return (await res.json()) as { id: string; endsAt: number }
}

/** `gavel watch AUCTION --since 0` in the human format, until it printed `n` event lines. */
async function replayFromZero(auction: string, n: number): Promise<string[]> {
	const child = cli('watch', auction, '--since', '0')
	try {
		return (await readLines(child.stdout, (lines) => lines.length >= n)).slice(0, n)
	} finally {
		child.kill()
	}
}

describe('gavel watch --since 0 marks a bid [extended] only when that bid moved the end', () => {
	test('a first bid that did not extend, then one that did', async () => {
		// Ends in 6 s with a 4 s soft close: a bid now is outside the window, a bid after 2.5 s inside it.
		const created = await openAuction({ endsAt: Date.now() + 6_000, softCloseMs: 4_000 })
		const first = await placeBid(created.id, 'bob', 100)
		await Bun.sleep(Math.max(0, created.endsAt - 3_500 - Date.now()))
		const second = await placeBid(created.id, 'carol', 200)
		// The scenario as intended: the first bid kept the end, the second moved it.
		expect(first.endsAt).toBe(created.endsAt)
		expect(second.endsAt).toBeGreaterThan(first.endsAt)

		const lines = await replayFromZero(created.id, 2)
		expect(lines[0]).toMatch(/^#1 .* bob bid 1\.00 → price 1\.00 \(leader bob\)$/)
		expect(lines[1]).toMatch(/^#2 .* carol bid 2\.00 → price 2\.00 \(leader carol\) \[extended to \d\d:\d\d:\d\d\.\d{3}\]$/)
	})

	test('a first bid that extended the end', async () => {
		// Ends in 3 s with a minute of soft close: every bid lands in the window.
		const created = await openAuction({ endsAt: Date.now() + 3_000, softCloseMs: 60_000 })
		const first = await placeBid(created.id, 'bob', 100)
		const second = await placeBid(created.id, 'carol', 200)
		expect(first.endsAt).toBeGreaterThan(created.endsAt)

		const lines = await replayFromZero(created.id, 2)
		expect(lines[0]).toEndWith(`[extended to ${clock(first.endsAt)}]`)
		// Placed in the same millisecond as the first, the second did not move the end.
		if (second.endsAt === first.endsAt) expect(lines[1]).not.toContain('extended')
		else expect(lines[1]).toEndWith(`[extended to ${clock(second.endsAt)}]`)
	})

	test('without soft close, no bid is marked', async () => {
		const created = await openAuction({ endsAt: Date.now() + 600_000 })
		await placeBid(created.id, 'bob', 100)
		await placeBid(created.id, 'carol', 200)
		const lines = await replayFromZero(created.id, 2)
		expect(lines.join('\n')).not.toContain('extended')
	})
})

test('gavel watch where the WebSocket does not connect says so once and exits 1 instead of retrying forever', async () => {
	// An api-only gavel answers HTTP but has no /live.
	const apiOnly = await startTestGavel({ env: { ROLES: 'api' } })
	try {
		const seller = await apiOnly.token('sam', ['seller'])
		const res = await fetch(`${apiOnly.url}/auctions`, {
			method: 'POST',
			headers: { authorization: `Bearer ${seller}`, 'content-type': 'application/json' },
			body: JSON.stringify({ id: 'no-live', title: 'Lamp', startingPrice: 100, increment: 10, endsAt: Date.now() + 600_000 }),
		})
		expect(res.status).toBe(201)
		const child = Bun.spawn(['bun', join(import.meta.dir, '../../src/cli/main.ts'), 'watch', 'no-live'], {
			stdout: 'pipe',
			stderr: 'pipe',
			env: { ...process.env, GAVEL_URL: apiOnly.url },
		})
		expect(await child.exited).toBe(1)
		const stderr = await new Response(child.stderr).text()
		expect(stderr).toBe(`gavel: ${apiOnly.url} answers HTTP, but its WebSocket ${apiOnly.url.replace('http', 'ws')}/live did not connect: does this gavel run the live role?\n`)
	} finally {
		await apiOnly.stop()
	}
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
