import { afterAll, beforeAll, expect, test } from 'bun:test'
import { auctionBody, startTestGavel, type TestGavel } from '../helpers/gavel.ts'

let g: TestGavel
beforeAll(async () => {
	g = await startTestGavel({
		env: { RATE_LIMIT_BIDS_PER_SEC: '1', RATE_LIMIT_BURST: '3', RATE_LIMIT_IP_PER_SEC: '1', RATE_LIMIT_IP_BURST: '5' },
	})
})
afterAll(() => g.stop())

test('a bidder over the limit gets 429 RATE_LIMITED with Retry-After; other bidders are unaffected', async () => {
	const seller = await g.token('sam', ['seller'])
	const created = await fetch(`${g.url}/auctions`, {
		method: 'POST',
		headers: { authorization: `Bearer ${seller}`, 'content-type': 'application/json' },
		body: JSON.stringify(auctionBody()),
	})
	const { id } = (await created.json()) as { id: string }
	const bid = async (who: string, amount: number) =>
		fetch(`${g.url}/auctions/${id}/bids`, {
			method: 'POST',
			headers: { authorization: `Bearer ${await g.token(who)}`, 'content-type': 'application/json' },
			body: JSON.stringify({ amount }),
		})
	const statuses = []
	for (let i = 0; i < 4; i++) statuses.push((await bid('bob', 1000 + i * 100)).status)
	expect(statuses).toEqual([201, 201, 201, 429])
	const limited = await bid('bob', 5000)
	expect(limited.status).toBe(429)
	expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
	expect(await limited.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } })
	expect((await bid('carol', 5000)).status).toBe(201)
	const metrics = await (await fetch(`${g.url}/metrics`)).text()
	expect(metrics).toContain('gavel_bids_total{outcome="rejected",reason="RATE_LIMITED"} 2')
})

test('anonymous requests are limited per IP; health probes never are', async () => {
	// A gavel of its own: the bids above spent this address's allowance on their first tokens.
	const fresh = await startTestGavel({ env: { RATE_LIMIT_IP_PER_SEC: '1', RATE_LIMIT_IP_BURST: '5' } })
	try {
		const statuses = []
		for (let i = 0; i < 12; i++) statuses.push((await fetch(`${fresh.url}/auctions`)).status)
		expect(statuses).toContain(429)
		expect(statuses.slice(0, 4)).toEqual([200, 200, 200, 200])
		for (let i = 0; i < 20; i++) expect((await fetch(`${fresh.url}/healthz`)).status).toBe(200)
		expect((await fetch(`${fresh.url}/readyz`)).status).toBe(200)
	} finally {
		await fresh.stop()
	}
})

test('behind two trusted proxies (TRUST_PROXY=2) the limit is per client, not per proxy', async () => {
	const proxied = await startTestGavel({ env: { RATE_LIMIT_IP_PER_SEC: '1', RATE_LIMIT_IP_BURST: '3', TRUST_PROXY: '2' } })
	try {
		const from = (client: string, forged = '') =>
			fetch(`${proxied.url}/auctions`, { headers: { 'x-forwarded-for': `${forged}${client}, 192.0.2.50` } }).then((r) => r.status)
		const first = []
		for (let i = 0; i < 6; i++) first.push(await from('198.51.100.7', `10.9.9.${i}, `))
		expect(first).toContain(429) // a forged entry per request did not make it six clients
		expect(await from('198.51.100.8')).toBe(200) // another client behind the same proxies
	} finally {
		await proxied.stop()
	}
})

test('an Authorization header that did not verify is no pass around the per-IP limit', async () => {
	const limited = await startTestGavel({ env: { RATE_LIMIT_IP_PER_SEC: '1', RATE_LIMIT_IP_BURST: '5' } })
	try {
		const statuses = await Promise.all(
			Array.from({ length: 40 }, () => fetch(`${limited.url}/auctions`, { headers: { authorization: 'x' } }).then((r) => r.status)),
		)
		expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(30)
		const forged = await fetch(`${limited.url}/auctions`, { headers: { authorization: 'Bearer not.a.token' } })
		expect(forged.status).toBe(429)
		expect(await forged.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } })
		// A token that verified once passes: its bids are limited per bidder instead.
		const seller = await limited.token('sam', ['seller'])
		await new Promise((r) => setTimeout(r, 1_100)) // one IP token back for the first, verifying request
		const created = await fetch(`${limited.url}/auctions`, {
			method: 'POST',
			headers: { authorization: `Bearer ${seller}`, 'content-type': 'application/json' },
			body: JSON.stringify(auctionBody()),
		})
		expect(created.status).toBe(201)
		for (let i = 0; i < 10; i++) expect((await fetch(`${limited.url}/auctions`, { headers: { authorization: `Bearer ${seller}` } })).status).toBe(200)
	} finally {
		await limited.stop()
	}
})
