import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { SignJWT } from 'jose'
import { unwrap, GavelApiError } from '../../src/client/index.ts'
import { auctionBody, startTestGavel, TEST_SECRET, type TestGavel } from '../helpers/gavel.ts'

let g: TestGavel
let sellerToken: string
let bobToken: string
let carolToken: string
beforeAll(async () => {
	g = await startTestGavel()
	sellerToken = await g.token('sam', ['seller'])
	bobToken = await g.token('bob')
	carolToken = await g.token('carol')
})
afterAll(() => g.stop())

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
	fetch(`${g.url}${path}`, {
		method: 'POST',
		headers: { 'content-type': 'application/json', ...headers },
		body: typeof body === 'string' ? body : JSON.stringify(body),
	})
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; message: string; [k: string]: unknown } }).error

async function newAuction(overrides: Record<string, unknown> = {}) {
	return unwrap(g.client(sellerToken).auctions.post(auctionBody(overrides)))
}

describe('auctions over HTTP with the typed client', () => {
	test('a seller creates an auction and anyone reads it', async () => {
		const created = await newAuction({ id: 'e2e-lamp', reservePrice: 5000, currency: 'EUR' })
		expect(created).toMatchObject({ id: 'e2e-lamp', sellerId: 'sam', currency: 'EUR', status: 'open', price: null, seq: 0, reserveMet: false })
		expect(created).not.toHaveProperty('reservePrice')
		const read = await unwrap(g.client().auctions({ id: 'e2e-lamp' }).get())
		expect(read).toEqual(created)
		const list = await unwrap(g.client().auctions.get({ query: { limit: '10' } }))
		expect(list.items.map((a) => a.id)).toContain('e2e-lamp')
	})

	test('a generated id is URL-safe and an existing id is 409 EXISTS', async () => {
		const a = await newAuction()
		expect(a.id).toMatch(/^[A-Za-z0-9_-]{1,64}$/)
		const res = await post('/auctions', auctionBody({ id: a.id }), bearer(sellerToken))
		expect(res.status).toBe(409)
		expect(await errorOf(res)).toMatchObject({ code: 'EXISTS' })
	})

	test('creating needs the seller role (403) and a token (401)', async () => {
		const forbidden = await post('/auctions', auctionBody(), bearer(bobToken))
		expect(forbidden.status).toBe(403)
		expect((await errorOf(forbidden)).code).toBe('FORBIDDEN')
		const admin = await post('/auctions', auctionBody(), bearer(await g.token('root', ['admin'])))
		expect(admin.status).toBe(201)
		expect((await post('/auctions', auctionBody())).status).toBe(401)
	})

	test.each([
		['an end in the past', { endsAt: Date.now() - 1000 }, 'endsAt'],
		['an end before the start', { startsAt: Date.now() + 60_000, endsAt: Date.now() + 30_000 }, 'endsAt'],
		['a fractional starting price', { startingPrice: 10.5 }, 'startingPrice'],
		['a zero starting price', { startingPrice: 0 }, 'startingPrice'],
		['a negative increment', { increment: -5 }, 'increment'],
		['unsorted tiers', { increment: [{ from: 0, step: 10 }, { from: 500, step: 50 }, { from: 100, step: 20 }] }, 'increment'],
		['tiers not starting at 0', { increment: [{ from: 10, step: 10 }] }, 'increment'],
		['a reserve below the starting price', { reservePrice: 10 }, 'reservePrice'],
		['a buy-now below the reserve', { reservePrice: 5000, buyNowPrice: 4000 }, 'buyNowPrice'],
		['maxEndsAt before endsAt', { maxEndsAt: Date.now() }, 'maxEndsAt'],
		['a bad id', { id: 'has spaces' }, 'id'],
		['an unknown field', { colour: 'red' }, 'colour'],
		['a lower-case currency', { currency: 'usd' }, 'currency'],
		// Postgres refuses both in text and jsonb: the event would poison the archive.
		['a title with NUL', { title: 'Lamp\u0000' }, 'title'],
		['a title with a lone surrogate', { title: 'Lamp \ud800' }, 'title'],
		['a title with a lone low surrogate', { title: '\udc00Lamp' }, 'title'],
	])('refuses %s with 422 naming the field', async (_, overrides, field) => {
		const res = await post('/auctions', auctionBody(overrides), bearer(sellerToken))
		expect(res.status).toBe(422)
		const error = await errorOf(res)
		expect(error.code).toBe('VALIDATION')
		expect(error.message).toContain(field)
	})

	test('lists page with cursors and refuse a limit over 200', async () => {
		const page = await unwrap(g.client().auctions.get({ query: { limit: '1' } }))
		expect(page.items).toHaveLength(1)
		expect(page.nextCursor).toBeString()
		const next = await unwrap(g.client().auctions.get({ query: { limit: '1', cursor: page.nextCursor! } }))
		expect(next.items[0]!.id).not.toBe(page.items[0]!.id)
		const res = await fetch(`${g.url}/auctions?limit=500`)
		expect(res.status).toBe(422)
		expect((await errorOf(res)).message).toContain('limit')
		const sold = await fetch(`${g.url}/auctions?status=sold`)
		expect(sold.status).toBe(422)
		expect((await errorOf(sold)).message).toBe('status: must be one of scheduled, open, closed')
	})

	test('an unknown auction is 404', async () => {
		const res = await fetch(`${g.url}/auctions/nope`)
		expect(res.status).toBe(404)
		expect((await errorOf(res)).code).toBe('NOT_FOUND')
	})
})

describe('bids over HTTP', () => {
	test('a bid is 201 with its event, the new state and whether it leads', async () => {
		const a = await newAuction()
		const placed = await unwrap(g.client(bobToken).auctions({ id: a.id }).bids.post({ amount: 1000 }))
		expect(placed.leading).toBe(true)
		expect(placed.bid).toMatchObject({ type: 'bid.placed', auction: a.id, seq: 1, bidder: 'bob', amount: 1000, price: 1000, leader: 'bob' })
		expect(placed.auction).toMatchObject({ price: 1000, leader: 'bob', bidCount: 1, seq: 1 })
	})

	test('a bid under the minimum is 409 TOO_LOW with the minimum', async () => {
		const a = await newAuction()
		await unwrap(g.client(bobToken).auctions({ id: a.id }).bids.post({ amount: 1000 }))
		const err = await unwrap(g.client(carolToken).auctions({ id: a.id }).bids.post({ amount: 1050 })).catch((e) => e)
		expect(err).toBeInstanceOf(GavelApiError)
		expect(err).toMatchObject({ status: 409, code: 'TOO_LOW', details: { minimum: 1100 } })
	})

	test.each([
		['a fractional amount', { amount: 10.5 }],
		['a negative amount', { amount: -100 }],
		['a zero amount', { amount: 0 }],
		['an unsafe integer', { amount: 2 ** 53 + 2 }],
		['an absurd amount', { amount: 1e15 }],
		['an amount as a string', { amount: '1000' }],
		['a missing amount', {}],
		['an unknown field', { amount: 1000, bidder: 'mallory' }],
		['a maximum below the amount', { amount: 2000, maxAmount: 1500 }],
	])('refuses %s with 422', async (_, body) => {
		const a = await newAuction()
		const res = await post(`/auctions/${a.id}/bids`, body, bearer(bobToken))
		expect(res.status).toBe(422)
		expect((await errorOf(res)).code).toBe('VALIDATION')
	})

	test('malformed JSON is 400, an oversized body 413, neither a 500', async () => {
		const a = await newAuction()
		const bad = await post(`/auctions/${a.id}/bids`, '{"amount":', bearer(bobToken))
		expect(bad.status).toBe(400)
		expect((await errorOf(bad)).code).toBe('BAD_REQUEST')
		const huge = await post(`/auctions/${a.id}/bids`, JSON.stringify({ amount: 1000, pad: 'x'.repeat(64 * 1024) }), bearer(bobToken))
		expect(huge.status).toBe(413)
		expect((await errorOf(huge)).code).toBe('PAYLOAD_TOO_LARGE')
	})

	test('a chunked body (no Content-Length) is read, measured and parsed the same way', async () => {
		const a = await newAuction()
		const chunked = (text: string) =>
			fetch(`${g.url}/auctions/${a.id}/bids`, {
				method: 'POST',
				headers: { 'content-type': 'application/json', ...bearer(bobToken) },
				body: new ReadableStream({
					start(controller) {
						controller.enqueue(new TextEncoder().encode(text))
						controller.close()
					},
				}),
			})
		const ok = await chunked('{"amount":1000}')
		expect(ok.status).toBe(201)
		const huge = await chunked(JSON.stringify({ amount: 1100, pad: 'x'.repeat(64 * 1024) }))
		expect(huge.status).toBe(413)
		expect((await errorOf(huge)).code).toBe('PAYLOAD_TOO_LARGE')
		const bad = await chunked('{"amount":')
		expect(bad.status).toBe(400)
	})

	test('no token, a bad token and an expired token are 401', async () => {
		const a = await newAuction()
		const path = `/auctions/${a.id}/bids`
		expect((await post(path, { amount: 1000 })).status).toBe(401)
		expect((await post(path, { amount: 1000 }, { authorization: 'Bearer not.a.jwt' })).status).toBe(401)
		expect((await post(path, { amount: 1000 }, { authorization: 'Basic Ym9iOnB3' })).status).toBe(401)
		const wrongKey = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('bob').setExpirationTime('1h').sign(new TextEncoder().encode('x'.repeat(40)))
		expect((await post(path, { amount: 1000 }, bearer(wrongKey))).status).toBe(401)
		const expired = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('bob').setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(new TextEncoder().encode(TEST_SECRET))
		const res = await post(path, { amount: 1000 }, bearer(expired))
		expect(res.status).toBe(401)
		expect((await errorOf(res)).message).toContain('expired')
		const noExp = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('bob').sign(new TextEncoder().encode(TEST_SECRET))
		expect((await post(path, { amount: 1000 }, bearer(noExp))).status).toBe(401)
	})

	test('a seller bidding on their own auction is 403 OWN_AUCTION; an unknown auction 404', async () => {
		const a = await newAuction()
		const own = await post(`/auctions/${a.id}/bids`, { amount: 1000 }, bearer(sellerToken))
		expect(own.status).toBe(403)
		expect((await errorOf(own)).code).toBe('OWN_AUCTION')
		const missing = await post('/auctions/missing/bids', { amount: 1000 }, bearer(bobToken))
		expect(missing.status).toBe(404)
	})

	test('an Idempotency-Key replay returns the same answer and appends one event only', async () => {
		const a = await newAuction()
		const path = `/auctions/${a.id}/bids`
		const headers = { ...bearer(bobToken), 'idempotency-key': 'retry-1' }
		const first = await post(path, { amount: 1200 }, headers)
		const second = await post(path, { amount: 1200 }, headers)
		expect(first.status).toBe(201)
		expect(second.status).toBe(201)
		expect(second.headers.get('idempotent-replayed')).toBe('true')
		expect(await second.text()).toBe(await first.text())
		const events = (await (await fetch(`${g.url}/auctions/${a.id}/events?since=0`)).json()) as { items: unknown[]; seq: number }
		expect(events.items).toHaveLength(1)
		expect(events.seq).toBe(1)
		const reused = await post(path, { amount: 9999 }, headers)
		expect(reused.status).toBe(422)
		expect((await errorOf(reused)).code).toBe('IDEMPOTENCY_KEY_REUSED')
	})
})

describe('operations', () => {
	test('healthz, readyz, metrics and the OpenAPI document answer', async () => {
		expect(await (await fetch(`${g.url}/healthz`)).json()).toEqual({ status: 'ok' })
		const ready = await fetch(`${g.url}/readyz`)
		expect(ready.status).toBe(200)
		expect(await ready.json()).toMatchObject({ status: 'ready' })
		const metrics = await (await fetch(`${g.url}/metrics`)).text()
		expect(metrics).toContain('gavel_bids_total{outcome="accepted",reason=""}')
		expect(metrics).toContain('gavel_bids_total{outcome="rejected",reason="TOO_LOW"}')
		expect(metrics).toContain('gavel_bid_duration_seconds_bucket')
		type Operation = { requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> } }
		const doc = (await (await fetch(`${g.url}/openapi/json`)).json()) as { paths: Record<string, Record<string, Operation>> }
		expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/auctions', '/auctions/{id}', '/auctions/{id}/bids']))
		// Request bodies are documented as JSON with their fields.
		expect(Object.keys(doc.paths['/auctions/{id}/bids']!.post!.requestBody!.content)).toEqual(['application/json'])
		expect(doc.paths['/auctions/{id}/bids']!.post!.requestBody!.content['application/json']!.schema.properties).toHaveProperty('maxAmount')
		expect(doc.paths['/auctions']!.post!.requestBody!.content['application/json']!.schema.properties).toHaveProperty('startingPrice')
		expect((await fetch(`${g.url}/openapi`)).status).toBe(200)
		const unknown = await fetch(`${g.url}/no/such/route`)
		expect(unknown.status).toBe(404)
		expect((await errorOf(unknown)).code).toBe('NOT_FOUND')
	})
})
