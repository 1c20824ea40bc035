import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { unwrap } from '../../src/client/index.ts'
import type { BidPlaced, GavelEvent } from '../../src/events.ts'
import { until } from '../helpers/archive.ts'
import { auctionBody, startTestGavel, type TestGavel } from '../helpers/gavel.ts'

interface Page {
	items: BidPlaced[]
	nextCursor: string | null
}

/** An auction with `bids` public bids (bob and carol take turns), archived before it returns. */
async function auctionWithBids(g: TestGavel, bids: number) {
	const seller = await g.token('sam', ['seller'])
	const auction = await unwrap(g.client(seller).auctions.post(auctionBody({ startingPrice: 1000, increment: 100 })))
	const bidders = [g.client(await g.token('bob')), g.client(await g.token('carol'))]
	for (let i = 0; i < bids; i++) await unwrap(bidders[i % 2]!.auctions({ id: auction.id }).bids.post({ amount: 1000 + 100 * i }))
	await until(async () => {
		const { status, body } = await history(g, auction.id)
		if (status === 503) return false // the archiver is still applying its migrations
		return (body as Page).items.length === Math.min(bids, 50)
	}, 'the bids archived')
	return auction.id
}

async function history(g: TestGavel, id: string, query = '') {
	const res = await fetch(`${g.url}/auctions/${id}/bids${query}`)
	return { status: res.status, body: (await res.json()) as Page | { error: { code: string; message: string } } }
}
const seqsOf = (body: unknown) => (body as Page).items.map((e) => e.seq)

describe('bid history over HTTP (embedded: in-process bus, archiver Worker, SQLite)', () => {
	let g: TestGavel
	let dataDir: string
	let id: string
	beforeAll(async () => {
		dataDir = await mkdtemp(join(tmpdir(), 'gavel-history-'))
		g = await startTestGavel({ dataDir })
		id = await auctionWithBids(g, 7)
	})
	afterAll(async () => {
		await g.stop()
		await rm(dataDir, { recursive: true, force: true })
	})

	test('lists bid.placed newest first by default, the same events the bus carried', async () => {
		const { status, body } = await history(g, id)
		expect(status).toBe(200)
		expect(seqsOf(body)).toEqual([7, 6, 5, 4, 3, 2, 1])
		expect((body as Page).nextCursor).toBeNull()
		const events = (await (await fetch(`${g.url}/auctions/${id}/events?since=0`)).json()) as { items: GavelEvent[] }
		expect((body as Page).items).toEqual(events.items.filter((e) => e.type === 'bid.placed').reverse() as BidPlaced[])
	})

	test('pages by cursor in either order until nextCursor is null', async () => {
		const pages: number[][] = []
		let cursor: string | null = ''
		while (cursor !== null) {
			const { body } = await history(g, id, `?limit=3${cursor ? `&cursor=${cursor}` : ''}`)
			pages.push(seqsOf(body))
			cursor = (body as Page).nextCursor
		}
		expect(pages).toEqual([[7, 6, 5], [4, 3, 2], [1]])

		const first = await history(g, id, '?order=asc&limit=4')
		expect(seqsOf(first.body)).toEqual([1, 2, 3, 4])
		const second = await history(g, id, `?order=asc&limit=4&cursor=${(first.body as Page).nextCursor}`)
		expect(seqsOf(second.body)).toEqual([5, 6, 7])
		expect((second.body as Page).nextCursor).toBeNull()
		expect(seqsOf((await history(g, id, '?limit=7')).body)).toHaveLength(7)
		expect((await history(g, id, '?limit=7')).body).toMatchObject({ nextCursor: null })
	})

	test('answers through the typed client', async () => {
		const page = await unwrap(g.client().auctions({ id }).bids.get({ query: { limit: '2', order: 'asc' } }))
		expect(page.items.map((b) => [b.seq, b.bidder, b.amount])).toEqual([
			[1, 'bob', 1000],
			[2, 'carol', 1100],
		])
	})

	test('an unknown auction is 404; a known one without bids has an empty history', async () => {
		const missing = await history(g, 'no-such-auction')
		expect(missing.status).toBe(404)
		expect(missing.body).toMatchObject({ error: { code: 'NOT_FOUND' } })
		const seller = await g.token('sam', ['seller'])
		const quiet = await unwrap(g.client(seller).auctions.post(auctionBody()))
		expect(await history(g, quiet.id)).toEqual({ status: 200, body: { items: [], nextCursor: null } })
	})

	test.each([
		['a limit of 0', '?limit=0', 'limit'],
		['a limit over 200', '?limit=201', 'limit'],
		['a limit that is not a number', '?limit=ten', 'limit'],
		['an unknown order', '?order=sideways', 'order'],
		['a cursor it never gave out', '?cursor=bm9wZQ', 'cursor'],
		['an unknown parameter', '?colour=red', 'colour'],
	])('refuses %s with 422', async (_, query, field) => {
		const { status, body } = await history(g, id, query)
		expect(status).toBe(422)
		expect((body as { error: { code: string; message: string } }).error).toMatchObject({ code: 'VALIDATION' })
		expect((body as { error: { message: string } }).error.message).toContain(field)
	})

	test('readiness and metrics show the archive', async () => {
		const ready = (await (await fetch(`${g.url}/readyz`)).json()) as { checks: Record<string, string> }
		expect(ready.checks).toMatchObject({ sqlite: 'ok', archiver: 'ok', 'archive-schema': 'ok' })
		await until(async () => /gavel_archive_events_total [1-9]/.test(await (await fetch(`${g.url}/metrics`)).text()), 'archive metrics')
		const metrics = await (await fetch(`${g.url}/metrics`)).text()
		for (const name of ['gavel_archive_batch_size_count', 'gavel_archive_insert_duration_seconds_count', 'gavel_archive_lag_events', 'gavel_archive_lag_seconds'])
			expect(metrics).toContain(name)
	})

	test('keeps the history across a restart on the same data dir (the embedded archive is a file)', async () => {
		await g.stop()
		g = await startTestGavel({ dataDir })
		expect(seqsOf((await history(g, id)).body)).toEqual([7, 6, 5, 4, 3, 2, 1])
	})
})

describe('bid history over HTTP (Redis, NATS JetStream, archiver Worker, Postgres)', () => {
	let g: TestGavel
	beforeAll(async () => {
		g = await startTestGavel({ real: true, postgres: true })
	})
	afterAll(() => g.stop())

	test('pages the bids that went through JetStream into Postgres', async () => {
		expect(g.gavel.adapters).toEqual({ store: 'redis', bus: 'nats', archive: 'postgres' })
		expect(g.gavel.archiver).toBe('worker')
		const id = await auctionWithBids(g, 5)
		expect(seqsOf((await history(g, id, '?limit=2')).body)).toEqual([5, 4])
		expect(seqsOf((await history(g, id, '?order=asc')).body)).toEqual([1, 2, 3, 4, 5])
		expect((await history(g, 'no-such-auction')).status).toBe(404)
	})
})
