import { afterAll, beforeAll, expect, test } from 'bun:test'
import { auctionBody, startTestGavel, type TestGavel } from '../helpers/gavel.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'
import { REDIS_URL } from '../helpers/services.ts'

let proxy: Awaited<ReturnType<typeof startTcpProxy>>
let g: TestGavel
beforeAll(async () => {
	const redis = new URL(REDIS_URL)
	proxy = await startTcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) })
	g = await startTestGavel({ real: true, env: { REDIS_URL: `redis://127.0.0.1:${proxy.port}` } })
})
afterAll(async () => {
	await proxy.open().catch(() => {})
	await g.stop()
	await proxy.close()
})

test('with Redis unreachable a bid is 503 UNAVAILABLE (never a 500), and bidding resumes when it is back', async () => {
	const seller = await g.token('sam', ['seller'])
	const bob = await g.token('bob')
	const carol = await g.token('carol')
	const created = await fetch(`${g.url}/auctions`, {
		method: 'POST',
		headers: { authorization: `Bearer ${seller}`, 'content-type': 'application/json' },
		body: JSON.stringify(auctionBody()),
	})
	const { id } = (await created.json()) as { id: string }
	const bid = (amount: number) =>
		fetch(`${g.url}/auctions/${id}/bids`, {
			method: 'POST',
			headers: { authorization: `Bearer ${amount === 1000 ? bob : carol}`, 'content-type': 'application/json', 'idempotency-key': `k${amount}` },
			body: JSON.stringify({ amount }),
		})
	expect((await bid(1000)).status).toBe(201)

	await proxy.close()
	const down = await bid(1100)
	expect(down.status).toBe(503)
	expect(await down.json()).toMatchObject({ error: { code: 'UNAVAILABLE' } })
	expect((await fetch(`${g.url}/auctions/${id}`)).status).toBe(503)
	expect((await fetch(`${g.url}/readyz`)).status).toBe(503)

	await proxy.open()
	let back = await bid(1100)
	for (let i = 0; i < 100 && back.status === 503; i++) {
		await Bun.sleep(100) // ioredis reconnects with its own backoff
		back = await bid(1100) // same Idempotency-Key: safe to send again
	}
	expect(back.status).toBe(201)
	expect(((await back.json()) as { auction: { seq: number } }).auction.seq).toBe(2)
})
