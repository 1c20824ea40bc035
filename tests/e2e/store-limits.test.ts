import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { auctionBody, startTestGavel, type TestGavel } from '../helpers/gavel.ts'

// The store limits through a listening gavel, with each store: the setting reaches the store,
// and listing by status is right the moment a bid changes a status.
for (const real of [false, true]) {
	describe(`store limits over HTTP (${real ? 'Redis' : 'embedded'})`, () => {
		let g: TestGavel
		let seller: string
		let bob: string
		beforeAll(async () => {
			g = await startTestGavel({ real, env: { IDEMPOTENCY_MAX_KEYS_PER_BIDDER: '2' } })
			seller = await g.token('sam', ['seller'])
			bob = await g.token('bob')
		})
		afterAll(() => g.stop())

		const post = (path: string, body: unknown, token: string, key?: string) =>
			fetch(`${g.url}${path}`, {
				method: 'POST',
				headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...(key ? { 'idempotency-key': key } : {}) },
				body: JSON.stringify(body),
			})
		const create = async (overrides: Record<string, unknown> = {}) => {
			const res = await post('/auctions', auctionBody(overrides), seller)
			expect(res.status).toBe(201)
			return ((await res.json()) as { id: string }).id
		}

		test('IDEMPOTENCY_MAX_KEYS_PER_BIDDER: the oldest key is forgotten first, and its retry changes nothing', async () => {
			const id = await create()
			const bid = (amount: number, key: string) => post(`/auctions/${id}/bids`, { amount }, bob, key)
			const first = await bid(1000, 'k1')
			const raise = await bid(1100, 'k2') // bob leads: a raise of his maximum
			const again = await bid(1200, 'k3') // a third key: k1 is forgotten
			expect([first.status, raise.status, again.status]).toEqual([201, 201, 201])
			const bodies = { k2: await raise.text(), k3: await again.text() }
			for (const [key, amount] of [['k2', 1100], ['k3', 1200]] as const) {
				const replay = await bid(amount, key)
				expect({ key, status: replay.status, replayed: replay.headers.get('idempotent-replayed'), body: await replay.text() }).toEqual({
					key,
					status: 201,
					replayed: 'true',
					body: bodies[key],
				})
			}
			const forgotten = await bid(1000, 'k1')
			expect(forgotten.status).toBe(409)
			expect(((await forgotten.json()) as { error: { code: string } }).error.code).toBe('TOO_LOW')
			const events = (await (await fetch(`${g.url}/auctions/${id}/events?since=0`)).json()) as { seq: number }
			expect(events.seq).toBe(1)
		})

		test('GET /auctions?status= is right the moment a buy-now closes an auction', async () => {
			const open = await create()
			const scheduled = await create({ startsAt: Date.now() + 3_600_000, endsAt: Date.now() + 7_200_000 })
			const sold = await create({ buyNowPrice: 5000 })
			expect((await post(`/auctions/${sold}/bids`, { amount: 5000 }, bob)).status).toBe(201)
			const mine = [open, scheduled, sold]
			const listed = async (status: string) => {
				const res = await fetch(`${g.url}/auctions?status=${status}&limit=200`)
				expect(res.status).toBe(200)
				const page = (await res.json()) as { items: Array<{ id: string; status: string }> }
				for (const item of page.items) expect(item.status).toBe(status)
				return page.items.map((a) => a.id).filter((id) => mine.includes(id))
			}
			expect({ scheduled: await listed('scheduled'), open: await listed('open'), closed: await listed('closed') }).toEqual({
				scheduled: [scheduled],
				open: [open],
				closed: [sold],
			})
		})
	})
}
