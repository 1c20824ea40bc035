// Free text that is hostile to some layer (JSON, HTML, line-based logs, JavaScript string literals,
// Postgres) is stored and served unchanged everywhere, or refused at the edge with a 422: never
// half-accepted into an event the archive then refuses forever. Redis, NATS and Postgres for real.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { GavelEvent } from '../../src/events.ts'
import { auctionBody, startTestGavel, type TestGavel } from '../helpers/gavel.ts'
import { connectPostgres } from '../helpers/services.ts'
import { until } from '../helpers/archive.ts'
import { watchLive } from '../helpers/ws.ts'

let g: TestGavel
let seller: string
let bob: string
beforeAll(async () => {
	g = await startTestGavel({ real: true, postgres: true })
	seller = await g.token('sam', ['seller'])
	bob = await g.token('bob')
})
afterAll(() => g.stop())

const post = (path: string, token: string, body: unknown) =>
	fetch(`${g.url}${path}`, {
		method: 'POST',
		headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
		body: JSON.stringify(body),
	})

const KEPT: Array<[string, string]> = [
	['quotes and backslashes', 'a "quoted" \\ back\\slash \\" title'],
	['a script tag', '</script><script>alert(1)</script>'],
	['line and paragraph separators', 'one\u2028two\u2029three'],
	['CR LF and tabs', 'line one\r\nline two\tend'],
	['astral characters (well-formed surrogate pairs)', 'Vase 🏺 𝄞'],
	['JSON-looking text', '{"type":"auction.closed","winner":"eve"}'],
	['200 characters', 'x'.repeat(200)],
]

describe('hostile but valid titles come back byte for byte over HTTP, WebSocket and from the archive', () => {
	test.each(KEPT)('%s', async (_, title) => {
		const created = await post('/auctions', seller, auctionBody({ title }))
		expect(created.status).toBe(201)
		const { id } = (await created.json()) as { id: string }
		expect((await post(`/auctions/${id}/bids`, bob, { amount: 1000 })).status).toBe(201)

		expect(((await (await fetch(`${g.url}/auctions/${id}`)).json()) as { title: string }).title).toBe(title)
		const listed = (await (await fetch(`${g.url}/auctions?limit=200`)).json()) as { items: Array<{ id: string; title: string }> }
		expect(listed.items.find((a) => a.id === id)?.title).toBe(title)

		const watcher = await watchLive(g.url, id, 0)
		try {
			const subscribed = watcher.frames.find((f) => f.type === 'subscribed') as { state: { title: string } } | undefined
			expect(subscribed?.state.title).toBe(title)
			const bid = (await watcher.next((f) => f.type === 'bid.placed', 'the bid')) as GavelEvent
			expect(bid).toMatchObject({ seq: 1, bidder: 'bob' })
		} finally {
			watcher.close()
		}

		const sql = await connectPostgres(g.env.DATABASE_URL)
		try {
			// The archiver migrates at start, in its Worker: until then the table may not exist yet.
			await until(async () => (await sql`select 1 from bid_events where auction_id = ${id}`.catch(() => [])).length === 2, 'both events archived')
			const [row] = await sql<{ title: string; payload: string }[]>`
				select a.title, e.payload::text as payload from auctions a join bid_events e on e.auction_id = a.id and e.seq = 0
				where a.id = ${id}`
			expect(row?.title).toBe(title)
			expect((JSON.parse(row!.payload) as { title: string }).title).toBe(title)
		} finally {
			await sql.end({ timeout: 5 })
		}
	})

	test('nothing was dead-lettered', async () => {
		expect(await (await fetch(`${g.url}/metrics`)).text()).not.toMatch(/gavel_archive_dead_letters_total\{[^}]*\} [1-9]/)
	})
})
