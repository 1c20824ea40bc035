import { afterAll, beforeAll, expect, test } from 'bun:test'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import type { BidPlaced, GavelEvent } from '../../src/events.ts'
import { auctionBody, startTestGavel, type TestGavel } from '../helpers/gavel.ts'
import { connectNats } from '../helpers/services.ts'
import { parseStateRecord } from '../../src/domain/state-record.ts'
import { STATE_HEADER } from '../../src/adapters/nats/subjects.ts'

const CLIENTS = 200
const BIDS_PER_CLIENT = 50 // 10,000 bids in all

let g: TestGavel
beforeAll(async () => {
	g = await startTestGavel({ real: true, env: { RATE_LIMIT_BIDS_PER_SEC: '0' } })
})
afterAll(() => g.stop())

test('10,000 bids from 200 concurrent clients on one auction: dense seq, highest bid wins, each event on the bus once', async () => {
	const seller = await g.token('sam', ['seller'])
	const created = await fetch(`${g.url}/auctions`, {
		method: 'POST',
		headers: { authorization: `Bearer ${seller}`, 'content-type': 'application/json' },
		body: JSON.stringify(auctionBody({ startingPrice: 100, increment: 10 })),
	})
	expect(created.status).toBe(201)
	const auction = (await created.json()) as { id: string }

	const accepted: BidPlaced[] = []
	let selfRaises = 0
	let tooLow = 0
	const unexpected: string[] = []
	let minimum = 100
	const client = async (n: number) => {
		const headers = { authorization: `Bearer ${await g.token(`bidder-${n}`)}`, 'content-type': 'application/json' }
		for (let i = 0; i < BIDS_PER_CLIENT; i++) {
			const amount = minimum + 10 * Math.floor(Math.random() * 4)
			const res = await fetch(`${g.url}/auctions/${auction.id}/bids`, { method: 'POST', headers, body: JSON.stringify({ amount }) })
			const body = (await res.json()) as { bid: BidPlaced | null; auction: { price: number }; error?: { code: string; minimum: number } }
			if (res.status === 201) {
				if (body.bid) accepted.push(body.bid)
				else selfRaises++
				minimum = Math.max(minimum, body.auction.price + 10)
			} else if (res.status === 409 && body.error?.code === 'TOO_LOW') {
				tooLow++
				minimum = Math.max(minimum, body.error.minimum)
			} else unexpected.push(`${res.status} ${JSON.stringify(body)}`)
		}
	}
	await Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)))

	expect(unexpected).toEqual([])
	expect(accepted.length + selfRaises + tooLow).toBe(CLIENTS * BIDS_PER_CLIENT)
	expect(accepted.length).toBeGreaterThan(100)
	const seqs = accepted.map((b) => b.seq).sort((a, b) => a - b)
	expect(seqs).toEqual(Array.from({ length: accepted.length }, (_, i) => i + 1))
	const final = (await (await fetch(`${g.url}/auctions/${auction.id}`)).json()) as { price: number; seq: number; bidCount: number }
	// The price is the last event's: at least the highest bid, and above it when a leader who had
	// raised their own maximum (a repeat bid while leading) was challenged just below it (a proxy answer).
	const last = accepted.reduce((a, b) => (b.seq > a.seq ? b : a))
	expect(final.price).toBe(last.price)
	expect(final.price).toBeGreaterThanOrEqual(Math.max(...accepted.map((b) => b.amount)))
	if (final.price > Math.max(...accepted.map((b) => b.amount))) expect(selfRaises).toBeGreaterThan(0)
	expect(final.seq).toBe(accepted.length)
	expect(final.bidCount).toBe(accepted.length)

	// Every accepted event reaches JetStream exactly once (plus auction.created), and every commit
	// its state record: in the header of its event's message, or alone on the private subject for a
	// commit without a public event (a self-raise).
	const nc = await connectNats()
	try {
		const jsm = await jetstreamManager(nc)
		const stream = g.env.NATS_STREAM!
		const eventsSubject = `${g.env.NATS_SUBJECT_PREFIX}.${auction.id}`
		const statesSubject = `${eventsSubject}.state`
		let counts: Record<string, number> = {}
		const deadline = Date.now() + 15_000
		while (Date.now() < deadline) {
			counts = (await jsm.streams.info(stream, { subjects_filter: '>' })).state.subjects ?? {}
			if ((counts[eventsSubject] ?? 0) >= accepted.length + 1) break
			await Bun.sleep(50)
		}
		expect(counts[eventsSubject]).toBe(accepted.length + 1)
		expect(counts[statesSubject] ?? 0).toBe(selfRaises)
		const consumer = await jetstream(nc).consumers.get(stream, { filter_subjects: eventsSubject })
		const stored = counts[eventsSubject]!
		const seen: GavelEvent[] = []
		const messages = await consumer.fetch({ max_messages: stored, expires: 5_000 })
		for await (const m of messages) {
			const event = m.json<GavelEvent>()
			expect(parseStateRecord(m.headers!.get(STATE_HEADER)).record.seq).toBe(event.seq)
			seen.push(event)
			if (seen.length === stored) break
		}
		expect(seen.filter((e) => e.type === 'auction.created')).toHaveLength(1)
		const busIds = seen.filter((e) => e.type === 'bid.placed').map((e) => e.id)
		expect(new Set(busIds).size).toBe(busIds.length)
		expect(new Set(busIds)).toEqual(new Set(accepted.map((b) => b.id)))
	} finally {
		await nc.close()
	}
}, 120_000)
