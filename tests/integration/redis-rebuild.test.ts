// A Redis that comes back empty (restarted without persistence, a new node, a flush) is rebuilt
// from the log: bids on its auctions are 503 with Retry-After while that runs, never 404 and never
// a wrong seq, and then go on from the next seq with every hidden maximum and key in force.
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { auctionBody, startTestGavel, type TestGavel } from '../helpers/gavel.ts'
import { connectRedis, deleteKeys } from '../helpers/services.ts'
import { until } from '../helpers/archive.ts'

let g: TestGavel
beforeAll(async () => {
	g = await startTestGavel({ real: true, postgres: true })
})
afterAll(() => g.stop())

const send = (path: string, body: unknown, token: string, key?: string) =>
	fetch(`${g.url}${path}`, {
		method: 'POST',
		headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
		body: JSON.stringify(body),
	})

test('Redis emptied under a running gavel: rebuilt from the archive, no 404, the next seq, hidden maxima kept', async () => {
	const seller = await g.token('sam', ['seller'])
	const bob = await g.token('bob')
	const carol = await g.token('carol')
	const ids: string[] = []
	for (let i = 0; i < 5; i++) {
		const created = await send('/auctions', auctionBody({ reservePrice: 5000 }), seller)
		expect(created.status).toBe(201)
		ids.push(((await created.json()) as { id: string }).id)
	}
	const [watched] = ids
	const first = await send(`/auctions/${watched}/bids`, { amount: 1000, maxAmount: 6000 }, bob, 'bob-1')
	expect(first.status).toBe(201)
	const firstBody = await first.text()
	expect((await send(`/auctions/${watched}/bids`, { amount: 5100 }, carol)).status).toBe(201) // bob leads at the reserve; his proxy answers 5200
	const before = await (await fetch(`${g.url}/auctions/${watched}`)).json()

	const redis = await connectRedis()
	try {
		await deleteKeys(redis, g.env.REDIS_PREFIX!) // every key of this gavel: as a Redis restarted empty
	} finally {
		await redis.quit()
	}

	// While it rebuilds: 503 with Retry-After, or already the rebuilt auction; never a 404.
	const statuses = new Set<number>()
	await until(async () => {
		const res = await fetch(`${g.url}/auctions/${watched}`)
		statuses.add(res.status)
		if (res.status === 503) expect(res.headers.get('retry-after')).toBe('1')
		return res.status === 200
	}, 'the auction back after the rebuild')
	expect([...statuses].filter((s) => s !== 200 && s !== 503)).toEqual([])
	expect(await (await fetch(`${g.url}/auctions/${watched}`)).json()).toEqual(before)
	for (const id of ids) expect((await fetch(`${g.url}/auctions/${id}`)).status).toBe(200)

	// carol challenges at 5500: bob's hidden 6000 answers (it reached the reserve at his first bid).
	const challenged = await send(`/auctions/${watched}/bids`, { amount: 5500 }, carol)
	expect(challenged.status).toBe(201)
	expect(await challenged.json()).toMatchObject({ leading: false, bid: { seq: 3, leader: 'bob', proxy: true, price: 5600 } })
	const retried = await send(`/auctions/${watched}/bids`, { amount: 1000, maxAmount: 6000 }, bob, 'bob-1')
	expect(retried.headers.get('idempotent-replayed')).toBe('true')
	expect(await retried.text()).toBe(firstBody)
	const listed = (await (await fetch(`${g.url}/auctions?status=open&limit=50`)).json()) as { items: Array<{ id: string }> }
	expect(listed.items.map((a) => a.id).sort()).toEqual([...ids].sort())
})
