import { afterAll, expect, test } from 'bun:test'
import type Redis from 'ioredis'
import { createMemoryBidStore } from '../../src/adapters/memory/bid-store.ts'
import { createRedisBidStore } from '../../src/adapters/redis/bid-store.ts'
import { newAuction, type NewAuctionInput } from '../../src/domain/new-auction.ts'
import { auctionCreated } from '../../src/events.ts'
import { AppError } from '../../src/errors.ts'
import type { BidStore, PlaceBidRequest } from '../../src/ports/bid-store.ts'
import { testClock } from '../helpers/clock.ts'
import { connectRedis, deleteKeys, uniqueName } from '../helpers/services.ts'

const prefix = uniqueName()
const connections: Redis[] = []
afterAll(async () => {
	await deleteKeys(connections[0]!, prefix)
	await Promise.all(connections.map((r) => r.quit()))
})

/** A small seeded PRNG (mulberry32), so a failing sequence can be replayed from its seed. */
function random(seed: number) {
	let a = seed >>> 0
	const next = () => {
		a = (a + 0x6d2b79f5) >>> 0
		let t = a
		t = Math.imul(t ^ (t >>> 15), t | 1)
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296
	}
	return { next, int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)), pick: <T>(xs: T[]) => xs[Math.floor(next() * xs.length)]! }
}

type Outcome = { refused: string; minimum?: unknown } | { answer: unknown; events: unknown[] }

/** What a bid did, with event ids (random per store) blanked so the stores compare. */
async function outcomeOf(store: BidStore, request: PlaceBidRequest): Promise<Outcome> {
	try {
		const placed = await store.placeBid(request)
		const blank = (json: string) => json.replace(/"id":"[0-9a-f-]{36}"/g, '"id":"-"')
		return { answer: JSON.parse(blank(placed.answer)), events: placed.events.map((e) => JSON.parse(blank(e))) }
	} catch (err) {
		if (!(err instanceof AppError)) throw err
		return { refused: err.code, minimum: err.details.minimum }
	}
}

test('thousands of random bid sequences give identical answers and events in the Lua and the TypeScript store', async () => {
	const redis = await connectRedis()
	connections.push(redis)
	const clock = testClock()
	const stores = [createMemoryBidStore({ now: clock.now }), createRedisBidStore({ redis, prefix, now: clock.now })]
	let bids = 0
	const seen = new Map<string, number>()
	const count = (what: string) => seen.set(what, (seen.get(what) ?? 0) + 1)
	for (let seed = 1; seed <= 300; seed++) {
		const r = random(seed)
		const start = clock.now()
		const startingPrice = r.int(1, 50) * 100
		const settings: NewAuctionInput = {
			id: `diff-${seed}`,
			title: `seed ${seed}`,
			startingPrice,
			increment: r.next() < 0.5 ? r.int(1, 200) : [{ from: 0, step: r.int(1, 50) }, { from: startingPrice * 2, step: r.int(51, 500) }],
			startsAt: start + r.pick([0, 0, 500]),
			endsAt: start + r.int(5_000, 30_000),
			softCloseMs: r.pick([0, 1_000, 5_000]),
		}
		if (r.next() < 0.4) settings.reservePrice = startingPrice + r.int(0, 50) * 100
		if (r.next() < 0.4) settings.buyNowPrice = (settings.reservePrice ?? startingPrice) + r.int(0, 12) * 100
		settings.maxEndsAt = settings.endsAt + r.pick([0, 2_000, 60_000])
		const record = newAuction(settings, 'seller', start)
		for (const store of stores) await store.createAuction(record, JSON.stringify(auctionCreated(record)))
		const bidders = ['a', 'b', 'c', 'd', 'seller']
		let hint = startingPrice
		for (let step = 0; step < 20; step++) {
			clock.advance(r.int(0, 1_500))
			const amount = Math.max(1, hint + r.int(-3, 8) * 50)
			const request: PlaceBidRequest = { auction: record.id, bidder: r.pick(bidders), amount }
			if (r.next() < 0.4) request.maxAmount = amount + r.int(0, 40) * 50
			if (r.next() < 0.1) request.idempotencyKey = `k${r.int(1, 3)}`
			const [memory, lua] = await Promise.all(stores.map((s) => outcomeOf(s, request)))
			expect({ seed, step, request, outcome: lua }).toEqual({ seed, step, request, outcome: memory! })
			bids++
			if ('refused' in memory!) count(memory.refused)
			else {
				const events = memory!.events as Array<{ type: string; proxy?: boolean; endsAt?: number }>
				count(events.length === 0 ? 'hidden raise' : 'accepted')
				if (events[0]?.proxy) count('proxy')
				if (events[1]?.type === 'auction.closed') count('buy-now')
				if (events[0] && events[0].endsAt! > record.endsAt) count('extended')
				if ((memory!.answer as { auction: { reserveMet: boolean } }).auction.reserveMet && record.reservePrice !== null) count('reserve met')
			}
			if ('answer' in memory!) hint = ((memory.answer as { auction: { price: number | null } }).auction.price ?? hint) + 100
			if ('minimum' in memory! && typeof memory.minimum === 'number') hint = memory.minimum
		}
		clock.advance(100_000)
		const closes = await Promise.all(stores.map((store) => store.closeAuction(record.id)))
		const blank = (c: (typeof closes)[number]) => ('event' in c ? { ...c, event: JSON.parse(c.event.replace(/"id":"[0-9a-f-]{36}"/, '"id":"-"')) } : c)
		expect({ seed, close: blank(closes[1]!) }).toEqual({ seed, close: blank(closes[0]!) })
	}
	expect(bids).toBe(6_000)
	// The random walk must reach every rule, or the comparison proves little.
	console.log('differential run:', JSON.stringify(Object.fromEntries(seen)))
	for (const what of ['accepted', 'hidden raise', 'proxy', 'buy-now', 'extended', 'reserve met', 'TOO_LOW', 'CLOSED', 'OWN_AUCTION', 'NOT_STARTED', 'IDEMPOTENCY_KEY_REUSED'])
		expect({ what, seen: (seen.get(what) ?? 0) > 10 }).toEqual({ what, seen: true })
	await stores[0]!.close()
})

test('bidders with maxima racing on one auction over several Redis connections end as the same bids applied one by one', async () => {
	for (let i = 0; i < 8; i++) connections.push(await connectRedis())
	const clock = testClock()
	const racers = connections.slice(-8).map((redis) => createRedisBidStore({ redis, prefix, now: clock.now }))
	const record = newAuction({ id: 'race', title: 'race', startingPrice: 100, increment: [{ from: 0, step: 10 }, { from: 5_000, step: 50 }], endsAt: clock.now() + 60_000, reservePrice: 4_000 }, 'seller', clock.now())
	await racers[0]!.createAuction(record, JSON.stringify(auctionCreated(record)))
	const r = random(42)
	// Each bidder bids once, so nobody raises their own maximum and every public bid has a seq.
	const requests: PlaceBidRequest[] = Array.from({ length: 2_000 }, (_, i) => {
		const amount = 100 + r.int(0, 400) * 25
		return { auction: 'race', bidder: `racer-${i}`, amount, maxAmount: r.next() < 0.6 ? amount + r.int(1, 400) * 25 : undefined }
	})
	const outcomes = await Promise.all(requests.map((req, i) => outcomeOf(racers[i % racers.length]!, req)))

	const accepted = outcomes
		.map((o, i) => ({ o, req: requests[i]! }))
		.filter((x): x is { o: { answer: unknown; events: Array<{ seq: number }> }; req: PlaceBidRequest } => 'answer' in x.o)
	const seqs = accepted.map((x) => x.o.events[0]!.seq)
	expect(seqs.toSorted((a, b) => a - b)).toEqual(Array.from({ length: accepted.length }, (_, i) => i + 1))

	// Replay the accepted bids in the order Redis applied them (by seq) on a fresh memory store.
	const memory = createMemoryBidStore({ now: clock.now })
	await memory.createAuction(record, JSON.stringify(auctionCreated(record)))
	for (const { o, req } of accepted.toSorted((x, y) => x.o.events[0]!.seq - y.o.events[0]!.seq))
		expect({ bidder: req.bidder, outcome: await outcomeOf(memory, req) }).toEqual({ bidder: req.bidder, outcome: o })
	expect(await memory.getAuction('race')).toEqual((await racers[0]!.getAuction('race'))!)
	// Refused bids were below the minimum they were told about.
	for (const [i, o] of outcomes.entries())
		if ('refused' in o) {
			expect(o.refused).toBe('TOO_LOW')
			expect(requests[i]!.amount).toBeLessThan(o.minimum as number)
		}
	await memory.close()
})
