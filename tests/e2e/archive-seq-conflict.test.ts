import { afterAll, beforeAll, expect, test } from 'bun:test'
import { jetstreamManager } from '@nats-io/jetstream'
import type { Redis } from 'ioredis'
import type { BidPlaced } from '../../src/events.ts'
import { until } from '../helpers/archive.ts'
import { auctionBody, startTestGavel, type TestGavel } from '../helpers/gavel.ts'
import { connectNats, connectRedis } from '../helpers/services.ts'

// A Redis failover that loses the last write, over real HTTP: gavel (Redis, NATS, the archiver
// Worker, Postgres) hands out a seq the archive already holds. The archive keeps the first event
// and the conflict is visible in /metrics and the dead-letter stream (docs/design.md §6).

let g: TestGavel
let redis: Redis
beforeAll(async () => {
	g = await startTestGavel({ real: true, postgres: true })
	redis = await connectRedis()
})
afterAll(async () => {
	await redis.quit()
	await g.stop()
})

const post = async (path: string, body: unknown, token: string) => {
	const res = await fetch(`${g.url}${path}`, {
		method: 'POST',
		headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
		body: JSON.stringify(body),
	})
	return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}
const bid = async (auction: string, bidder: string, amount: number) => {
	const res = await post(`/auctions/${auction}/bids`, { amount }, await g.token(bidder))
	expect(res.status).toBe(201)
	return res.body.bid as { seq: number }
}
const history = async (auction: string) => {
	const res = await fetch(`${g.url}/auctions/${auction}/bids?order=asc`)
	return res.status === 200 ? ((await res.json()) as { items: BidPlaced[] }).items : null
}
const metric = async (line: RegExp) => line.exec(await (await fetch(`${g.url}/metrics`)).text())?.[1]

/** Every Redis key of one auction (state, event stream, idempotency records), as DUMP blobs. */
async function snapshot(auction: string) {
	const keys: string[] = []
	let cursor = '0'
	do {
		const [next, found] = await redis.scan(cursor, 'MATCH', `${g.env.REDIS_PREFIX}:{${auction}}*`, 'COUNT', 1000)
		cursor = next
		keys.push(...found)
	} while (cursor !== '0')
	return Promise.all(keys.map(async (key) => ({ key, dump: (await redis.dumpBuffer(key))!, ttl: Math.max(0, await redis.pttl(key)) })))
}

test('a seq handed out twice after a store lost a write: the archive keeps the first, /metrics and the dead-letter stream show the conflict', async () => {
	const created = await post('/auctions', auctionBody({ startingPrice: 1000, increment: 100 }), await g.token('sam', ['seller']))
	expect(created.status).toBe(201)
	expect(g.gavel.archiver).toBe('worker') // its counts reach /metrics from the Worker's reports
	const auction = created.body.id as string
	expect(await bid(auction, 'bob', 1000)).toMatchObject({ seq: 1 })
	const replica = await snapshot(auction) // what a replica that misses the next write holds

	expect(await bid(auction, 'carol', 1100)).toMatchObject({ seq: 2 })
	await until(async () => (await history(auction))?.length === 2, "carol's bid archived")
	const carols = (await history(auction))![1]!

	// The failover: the replica becomes the store, carol's bid is gone from it.
	for (const { key, dump, ttl } of replica) await redis.restore(key, ttl, dump, 'REPLACE')
	expect(await bid(auction, 'dave', 1100)).toMatchObject({ seq: 2 })

	await until(async () => (await metric(/^gavel_archive_seq_conflicts_total (\d+)$/m)) === '1', 'the conflict in /metrics')
	expect(await metric(/^gavel_archive_dead_letters_total\{reason="seq-conflict"\} (\d+)$/m)).toBe('1')
	const archived = await history(auction)
	expect(archived!.map((e) => [e.seq, e.bidder])).toEqual([
		[1, 'bob'],
		[2, 'carol'],
	])

	const nc = await connectNats()
	try {
		const jsm = await jetstreamManager(nc)
		const letter = (await jsm.streams.getMessage(g.env.NATS_DLQ_STREAM!, { seq: 1 }))!
		expect(letter.header.get('Gavel-Dlq-Reason')).toBe('seq-conflict')
		const { stored, incoming } = JSON.parse(letter.string()) as { stored: BidPlaced; incoming: BidPlaced }
		expect(stored).toEqual(carols)
		expect(incoming).toMatchObject({ type: 'bid.placed', auction, seq: 2, bidder: 'dave' })
		expect(incoming.id).not.toBe(stored.id)
	} finally {
		await nc.close()
	}
}, 60_000)
