import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { newAuction, type NewAuctionInput } from '../../src/domain/new-auction.ts'
import { auctionCreated, type AuctionClosed, type BidPlaced, type GavelEvent } from '../../src/events.ts'
import { AppError } from '../../src/errors.ts'
import { toView, type AuctionView } from '../../src/domain/auction.ts'
import type { BidStore, Restorable } from '../../src/ports/bid-store.ts'
import { parseStateRecord, stateRecordJson, type IdempotencyEntry, type StateRecord } from '../../src/domain/state-record.ts'
import { testClock, type TestClock } from '../helpers/clock.ts'

export interface StoreHarness {
	store: BidStore
	cleanup(): Promise<void>
}
export type MakeStore = (clock: TestClock, options: { eventsKept?: number; idempotencyKeysPerBidder?: number }) => Promise<StoreHarness>

const T0 = Date.UTC(2030, 0, 1)
const SELLER = 'sam'
let nextId = 0
const uniqueId = () => `c${Date.now().toString(36)}${(nextId++).toString(36)}`

export interface BidResult {
	bid: BidPlaced | null
	auction: AuctionView
	leading: boolean
	events: GavelEvent[]
	replayed: boolean
	raw: string
	/** The commit's private state record; null for a replay. */
	state: StateRecord | null
	/** The new events as the store wrote them. */
	rawEvents: string[]
}

/** A harness bound to one store and clock, with helpers the contract and other suites share. */
export function storeDriver(store: BidStore, clock: TestClock) {
	return {
		async create(overrides: Partial<NewAuctionInput> = {}, seller = SELLER) {
			const record = newAuction(
				{ id: uniqueId(), title: 'Lamp', startingPrice: 1000, increment: 100, startsAt: T0, endsAt: T0 + 60_000, ...overrides },
				seller,
				clock.now(),
			)
			return store.createAuction(record, JSON.stringify(auctionCreated(record)))
		},
		async bid(auction: string, bidder: string, amount: number, maxAmount?: number, idempotencyKey?: string): Promise<BidResult> {
			const placed = await store.placeBid({ auction, bidder, amount, maxAmount, idempotencyKey })
			const answer = JSON.parse(placed.answer)
			expect(answer.leading).toBe(placed.leading)
			return {
				...answer,
				events: placed.events.map((e) => JSON.parse(e)),
				replayed: placed.replayed,
				raw: placed.answer,
				state: placed.state === null ? null : parseStateRecord(placed.state),
				rawEvents: placed.events,
			}
		},
		async refusal(promise: Promise<unknown>): Promise<AppError> {
			try {
				await promise
			} catch (err) {
				expect(err).toBeInstanceOf(AppError)
				return err as AppError
			}
			throw new Error('expected a refusal, the bid was accepted')
		},
	}
}

type Expectation =
	| { code: string; minimum?: number }
	| {
			price?: number | null
			leader?: string | null
			leading?: boolean
			seq?: number
			status?: string
			endsAt?: number
			reserveMet?: boolean
			winner?: string | null
			event?: Partial<BidPlaced> | null
			closed?: Partial<AuctionClosed>
	  }
interface Step {
	/** Clock offset from T0 when the bid is placed (default 1 s). */
	at?: number
	bidder: string
	amount: number
	max?: number
	expect: Expectation
}
interface Scenario {
	name: string
	auction?: Partial<NewAuctionInput>
	steps: Step[]
}

/** docs/design.md §2 as a table: every row runs against every adapter. Times are offsets from T0. */
export const RULES: Scenario[] = [
	{
		name: 'the first bid at the starting price sets the price to its amount',
		steps: [{ bidder: 'bob', amount: 1000, expect: { price: 1000, leader: 'bob', leading: true, seq: 1, event: { bidder: 'bob', amount: 1000, price: 1000, proxy: false, seq: 1 } } }],
	},
	{
		name: 'a first bid below the starting price is TOO_LOW with the minimum',
		steps: [{ bidder: 'bob', amount: 999, expect: { code: 'TOO_LOW', minimum: 1000 } }],
	},
	{
		name: 'after a bid the minimum is price plus the increment',
		steps: [
			{ bidder: 'bob', amount: 1000, expect: { price: 1000 } },
			{ bidder: 'carol', amount: 1099, expect: { code: 'TOO_LOW', minimum: 1100 } },
			{ bidder: 'carol', amount: 1100, expect: { price: 1100, leader: 'carol', seq: 2 } },
		],
	},
	{
		name: 'a plain bid above the minimum sets the price to its amount',
		steps: [
			{ bidder: 'bob', amount: 1000, expect: { price: 1000 } },
			{ bidder: 'carol', amount: 4321, expect: { price: 4321, leader: 'carol', event: { amount: 4321, price: 4321 } } },
		],
	},
	{
		name: 'tiered increments use the step of the last tier at or below the price',
		auction: { startingPrice: 4900, increment: [{ from: 0, step: 100 }, { from: 5000, step: 500 }, { from: 10000, step: 1000 }] },
		steps: [
			{ bidder: 'bob', amount: 4900, expect: { price: 4900 } },
			{ bidder: 'carol', amount: 4999, expect: { code: 'TOO_LOW', minimum: 5000 } },
			{ bidder: 'carol', amount: 5000, expect: { price: 5000 } },
			{ bidder: 'dave', amount: 5499, expect: { code: 'TOO_LOW', minimum: 5500 } },
			{ bidder: 'dave', amount: 10000, expect: { price: 10000 } },
			{ bidder: 'bob', amount: 10999, expect: { code: 'TOO_LOW', minimum: 11000 } },
		],
	},
	{
		name: "the leader's proxy answers a lower challenger at one step above it",
		steps: [
			{ bidder: 'bob', amount: 1000, max: 5000, expect: { price: 1000, leader: 'bob', event: { amount: 1000, price: 1000 } } },
			{
				bidder: 'carol',
				amount: 2000,
				expect: { price: 2100, leader: 'bob', leading: false, seq: 2, event: { bidder: 'carol', amount: 2000, price: 2100, leader: 'bob', proxy: true } },
			},
			{ bidder: 'carol', amount: 4950, expect: { price: 5000, leader: 'bob', leading: false, event: { proxy: true, price: 5000 } } },
		],
	},
	{
		name: "a challenger whose maximum beats the leader's leads at one step above the old maximum",
		steps: [
			{ bidder: 'bob', amount: 1000, max: 5000, expect: { price: 1000 } },
			{ bidder: 'carol', amount: 3000, max: 8000, expect: { price: 5100, leader: 'carol', leading: true, event: { bidder: 'carol', amount: 3000, price: 5100, proxy: false } } },
			{ bidder: 'dave', amount: 9000, expect: { price: 9000, leader: 'dave', event: { price: 9000 } } },
		],
	},
	{
		name: 'equal maxima keep the earlier bidder in front',
		steps: [
			{ bidder: 'bob', amount: 1000, max: 3000, expect: { price: 1000 } },
			{ bidder: 'carol', amount: 3000, expect: { price: 3000, leader: 'bob', leading: false, event: { proxy: true, price: 3000, leader: 'bob' } } },
			{ bidder: 'carol', amount: 2000, max: 3100, expect: { code: 'TOO_LOW', minimum: 3100 } },
		],
	},
	{
		name: 'a leader bidding again only raises their maximum: no event, price unchanged',
		steps: [
			{ bidder: 'bob', amount: 1000, expect: { price: 1000, seq: 1 } },
			{ bidder: 'bob', amount: 1100, max: 9000, expect: { price: 1000, leader: 'bob', leading: true, seq: 1, event: null } },
			{ bidder: 'carol', amount: 2000, expect: { price: 2100, leader: 'bob', leading: false, seq: 2, event: { proxy: true } } },
		],
	},
	{
		name: "the reserve lifts the price as soon as the leader's maximum reaches it",
		auction: { reservePrice: 5000 },
		steps: [
			{ bidder: 'bob', amount: 1000, expect: { price: 1000, reserveMet: false, event: { reserveMet: false } } },
			{ bidder: 'carol', amount: 2000, max: 6000, expect: { price: 5000, leader: 'carol', reserveMet: true, event: { amount: 2000, price: 5000, reserveMet: true } } },
			{ bidder: 'bob', amount: 5100, expect: { price: 5200, leader: 'carol', leading: false } },
		],
	},
	{
		name: 'a leader raising their maximum to the reserve moves the price to it, showing the price not the maximum',
		auction: { reservePrice: 5000 },
		steps: [
			{ bidder: 'bob', amount: 1000, expect: { price: 1000, reserveMet: false } },
			{ bidder: 'bob', amount: 1100, max: 7000, expect: { price: 5000, reserveMet: true, seq: 2, event: { bidder: 'bob', amount: 5000, price: 5000, proxy: false } } },
		],
	},
	{
		name: 'a first bid whose maximum reaches the reserve starts at the reserve',
		auction: { reservePrice: 5000 },
		steps: [{ bidder: 'bob', amount: 1000, max: 5000, expect: { price: 5000, reserveMet: true, event: { amount: 1000, price: 5000 } } }],
	},
	{
		name: 'buy-now with no reserve wins at once before the first bid and closes the auction',
		auction: { buyNowPrice: 10000 },
		steps: [
			{
				bidder: 'bob',
				amount: 12000,
				expect: { price: 10000, leader: 'bob', winner: 'bob', status: 'closed', seq: 2, event: { amount: 12000, price: 10000, seq: 1 }, closed: { seq: 2, winner: 'bob', price: 10000 } },
			},
			{ bidder: 'carol', amount: 20000, expect: { code: 'CLOSED' } },
		],
	},
	{
		name: 'buy-now with no reserve is gone after the first bid',
		auction: { buyNowPrice: 10000 },
		steps: [
			{ bidder: 'bob', amount: 1000, expect: { price: 1000 } },
			{ bidder: 'carol', amount: 12000, expect: { price: 12000, leader: 'carol', status: 'open', winner: null } },
		],
	},
	{
		name: 'buy-now with a reserve stays open until the reserve is met',
		auction: { reservePrice: 5000, buyNowPrice: 10000 },
		steps: [
			{ bidder: 'bob', amount: 1000, expect: { price: 1000, reserveMet: false } },
			{ bidder: 'carol', amount: 10000, expect: { price: 10000, winner: 'carol', status: 'closed', closed: { winner: 'carol', reserveMet: true } } },
		],
	},
	{
		name: 'buy-now with a reserve is gone once the reserve is met',
		auction: { reservePrice: 5000, buyNowPrice: 10000 },
		steps: [
			{ bidder: 'bob', amount: 6000, expect: { price: 6000, reserveMet: true } },
			{ bidder: 'carol', amount: 10000, expect: { price: 10000, leader: 'carol', status: 'open', winner: null } },
		],
	},
	{
		name: 'soft close extends a late public bid to now + window, capped at maxEndsAt',
		auction: { softCloseMs: 10_000, maxEndsAt: T0 + 65_000 },
		steps: [
			{ at: 40_000, bidder: 'bob', amount: 1000, expect: { endsAt: T0 + 60_000, event: { endsAt: T0 + 60_000 } } },
			{ at: 50_000, bidder: 'carol', amount: 1100, expect: { endsAt: T0 + 60_000 } },
			{ at: 52_000, bidder: 'bob', amount: 1200, expect: { endsAt: T0 + 62_000, event: { endsAt: T0 + 62_000 } } },
			{ at: 58_000, bidder: 'carol', amount: 1300, expect: { endsAt: T0 + 65_000 } },
			{ at: 64_999, bidder: 'bob', amount: 1400, expect: { endsAt: T0 + 65_000 } },
			{ at: 65_000, bidder: 'carol', amount: 1500, expect: { code: 'CLOSED' } },
		],
	},
	{
		name: 'a hidden maximum raise inside the soft-close window does not extend',
		auction: { softCloseMs: 10_000 },
		steps: [
			{ at: 40_000, bidder: 'bob', amount: 1000, expect: { endsAt: T0 + 60_000 } },
			{ at: 55_000, bidder: 'bob', amount: 1100, max: 5000, expect: { endsAt: T0 + 60_000, event: null } },
		],
	},
	{
		name: 'bids are taken from startsAt exactly until just before endsAt',
		auction: { startsAt: T0 + 1_000 },
		steps: [
			{ at: 999, bidder: 'bob', amount: 1000, expect: { code: 'NOT_STARTED' } },
			{ at: 1_000, bidder: 'bob', amount: 1000, expect: { price: 1000 } },
			{ at: 59_999, bidder: 'carol', amount: 1100, expect: { price: 1100 } },
			{ at: 60_000, bidder: 'bob', amount: 1200, expect: { code: 'CLOSED' } },
		],
	},
	{
		name: 'a seller cannot bid on their own auction',
		steps: [{ bidder: SELLER, amount: 1000, expect: { code: 'OWN_AUCTION' } }],
	},
]

/**
 * bidStoreContract is the one suite both BidStore adapters must pass; `make` builds a fresh,
 * isolated store (own key prefix for Redis) on the given clock.
 */
export function bidStoreContract(name: string, make: MakeStore) {
	describe(`BidStore contract: ${name}`, () => {
		const clock = testClock(T0)
		let harness: StoreHarness
		let store: BidStore
		let d: ReturnType<typeof storeDriver>
		beforeAll(async () => {
			harness = await make(clock, { eventsKept: 100 })
			store = harness.store
			d = storeDriver(store, clock)
		})
		afterAll(() => harness.cleanup())

		for (const scenario of RULES) {
			test(scenario.name, async () => {
				clock.set(T0)
				const auction = await d.create(scenario.auction)
				for (const [i, step] of scenario.steps.entries()) {
					clock.set(T0 + (step.at ?? 1_000))
					const label = `step ${i + 1}: ${step.bidder} bids ${step.amount}${step.max ? ` max ${step.max}` : ''}`
					const placing = d.bid(auction.id, step.bidder, step.amount, step.max)
					if ('code' in step.expect) {
						const err = await d.refusal(placing)
						expect({ step: label, code: err.code, minimum: err.details.minimum }).toMatchObject({ step: label, ...step.expect })
						continue
					}
					const r = await placing
					expect(r.raw).not.toMatch(/leaderMax|reservePrice|maxAmount/)
					const closed = r.events.find((e) => e.type === 'auction.closed')
					const seen = {
						step: label,
						price: r.auction.price,
						leader: r.auction.leader,
						leading: r.leading,
						seq: r.auction.seq,
						status: r.auction.status,
						endsAt: r.auction.endsAt,
						reserveMet: r.auction.reserveMet,
						winner: r.auction.winner,
						event: r.bid,
						closed,
					}
					expect(seen).toMatchObject({ step: label, ...step.expect })
					// The answer's event is the first published event, and events carry dense seqs.
					expect(r.events[0] ?? null).toEqual(r.bid)
					r.events.forEach((e, k) => expect(e.seq).toBe(r.auction.seq - r.events.length + 1 + k))
				}
			})
		}

		test('creates an auction with seq 0 and no price, and refuses a taken id with EXISTS', async () => {
			clock.set(T0)
			const view = await d.create({ reservePrice: 2000 })
			expect(view).toMatchObject({ status: 'open', price: null, leader: null, seq: 0, bidCount: 0, reserveMet: false, winner: null })
			expect(JSON.stringify(view)).not.toContain('reservePrice')
			expect(await store.getAuction(view.id)).toEqual(view)
			const err = await d.refusal(d.create({ id: view.id }))
			expect(err.code).toBe('EXISTS')
			expect(await store.getAuction('missing-auction')).toBeNull()
		})

		test('status follows the clock: scheduled, open, closed', async () => {
			clock.set(T0)
			const view = await d.create({ startsAt: T0 + 10_000, endsAt: T0 + 20_000 })
			expect(view.status).toBe('scheduled')
			clock.set(T0 + 10_000)
			expect((await store.getAuction(view.id))!.status).toBe('open')
			clock.set(T0 + 20_000)
			expect((await store.getAuction(view.id))!.status).toBe('closed')
		})

		test("seqs tells each auction's current seq, null for an unknown one", async () => {
			clock.set(T0)
			const quiet = await d.create()
			const busy = await d.create()
			clock.set(T0 + 1_000)
			await d.bid(busy.id, 'bob', 1000)
			await d.bid(busy.id, 'carol', 1100)
			expect(await store.seqs([busy.id, 'no-such-auction', quiet.id])).toEqual([2, null, 0])
			expect(await store.seqs([])).toEqual([])
		})

		test('a bid on an unknown auction is NOT_FOUND', async () => {
			const err = await d.refusal(d.bid('no-such-auction', 'bob', 1000))
			expect(err.code).toBe('NOT_FOUND')
			expect(err.status).toBe(404)
		})

		test('the answer is the event and the state right after it, and the state is what getAuction shows', async () => {
			clock.set(T0 + 1_000)
			const a = await d.create()
			const r = await d.bid(a.id, 'bob', 1500)
			expect(r.auction).toEqual((await store.getAuction(a.id))!)
			expect(r.bid).toMatchObject({ type: 'bid.placed', auction: a.id, at: T0 + 1_000, leader: 'bob' })
			expect(r.bid!.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/)
			expect(r.auction).toMatchObject({ bidCount: 1, seq: 1, price: 1500 })
		})

		test('an Idempotency-Key replay returns the original answer and appends no event', async () => {
			clock.set(T0 + 1_000)
			const a = await d.create()
			const first = await d.bid(a.id, 'bob', 1000, undefined, 'key-1')
			clock.advance(500)
			const again = await d.bid(a.id, 'bob', 1000, undefined, 'key-1')
			expect(again.replayed).toBe(true)
			expect(again.raw).toBe(first.raw)
			expect(again.events).toEqual([])
			expect((await store.getAuction(a.id))!.seq).toBe(1)
			// The same key from another bidder is another request.
			const carol = await d.bid(a.id, 'carol', 1100, undefined, 'key-1')
			expect(carol.replayed).toBe(false)
			expect(carol.auction.seq).toBe(2)
			// Reusing a key for a different bid is refused.
			const err = await d.refusal(d.bid(a.id, 'bob', 5000, undefined, 'key-1'))
			expect(err.code).toBe('IDEMPOTENCY_KEY_REUSED')
		})

		test('every answer shape replays byte for byte, also after the auction has moved on', async () => {
			let replays = 0
			for (const scenario of RULES) {
				clock.set(T0)
				const auction = await d.create(scenario.auction)
				const answered: Array<{ label: string; step: Step; key: string; raw: string }> = []
				for (const [i, step] of scenario.steps.entries()) {
					clock.set(T0 + (step.at ?? 1_000))
					const key = `${scenario.name.slice(0, 40)}|${i}`
					try {
						const r = await d.bid(auction.id, step.bidder, step.amount, step.max, key)
						answered.push({ label: `${scenario.name}, step ${i + 1}`, step, key, raw: r.raw })
					} catch (err) {
						if (!(err instanceof AppError)) throw err
					}
					// Replays pass rule 1 first: only while the auction takes bids.
					if ((await store.getAuction(auction.id))!.status !== 'open') continue
					for (const earlier of answered) {
						const again = await d.bid(auction.id, earlier.step.bidder, earlier.step.amount, earlier.step.max, earlier.key)
						expect({ step: earlier.label, replayed: again.replayed, raw: again.raw, events: again.events }).toEqual({
							step: earlier.label,
							replayed: true,
							raw: earlier.raw,
							events: [],
						})
						replays++
					}
				}
			}
			expect(replays).toBeGreaterThan(50)
		})

		test('an Idempotency-Key expires after 24 h: the same request is then a new bid', async () => {
			clock.set(T0 + 1_000)
			const a = await d.create({ endsAt: T0 + 3 * 86_400_000 })
			const first = await d.bid(a.id, 'bob', 1000, undefined, 'day-key')
			clock.set(T0 + 1_000 + 86_400_000 - 1)
			expect((await d.bid(a.id, 'bob', 1000, undefined, 'day-key')).raw).toBe(first.raw)
			clock.advance(1)
			// Forgotten: bob is the leader at 1000, so it runs as a new bid and is refused.
			expect((await d.refusal(d.bid(a.id, 'bob', 1000, undefined, 'day-key'))).code).toBe('TOO_LOW')
			// A key used again after it expired is recorded anew.
			const again = await d.bid(a.id, 'bob', 1500, undefined, 'day-key')
			expect(again.replayed).toBe(false)
			expect((await d.bid(a.id, 'bob', 1500, undefined, 'day-key')).raw).toBe(again.raw)
		})

		test('each bidder keeps its newest keys per auction; the oldest is forgotten first, and its retry changes nothing', async () => {
			const own = await make(clock, { idempotencyKeysPerBidder: 3 })
			try {
				const o = storeDriver(own.store, clock)
				clock.set(T0 + 1_000)
				const a = await o.create()
				const b = await o.create()
				const k1 = await o.bid(a.id, 'bob', 1000, undefined, 'k1') // bob leads at 1000
				const k2 = await o.bid(a.id, 'bob', 1100, undefined, 'k2') // a raise: nothing public
				const c1 = await o.bid(a.id, 'carol', 1200, undefined, 'c1') // carol leads at 1200
				const k3 = await o.bid(a.id, 'bob', 1300, undefined, 'k3')
				const k4 = await o.bid(a.id, 'bob', 1400, undefined, 'k4') // a raise again
				expect([k1.bid?.seq, k2.bid, c1.bid?.seq, k3.bid?.seq, k4.bid]).toEqual([1, null, 2, 3, null])
				const onB = await o.bid(b.id, 'bob', 1000, undefined, 'k1') // another auction: its own keys
				expect(onB.replayed).toBe(false)
				// bob holds 4 keys on a, over the cap of 3: k1 is gone, k2..k4 replay exactly.
				for (const [key, amount, first] of [['k2', 1100, k2], ['k3', 1300, k3], ['k4', 1400, k4]] as const) {
					const again = await o.bid(a.id, 'bob', amount, undefined, key)
					expect({ key, replayed: again.replayed, raw: again.raw }).toEqual({ key, replayed: true, raw: first.raw })
				}
				// k1 runs as a new bid: below the price now, so refused, and nothing moved.
				expect((await o.refusal(o.bid(a.id, 'bob', 1000, undefined, 'k1'))).code).toBe('TOO_LOW')
				expect(await own.store.getAuction(a.id)).toMatchObject({ seq: 3, price: 1300, leader: 'bob' })
				// The cap is per bidder: carol's key and bob's key on b still replay.
				expect((await o.bid(a.id, 'carol', 1200, undefined, 'c1')).raw).toBe(c1.raw)
				expect((await o.bid(b.id, 'bob', 1000, undefined, 'k1')).raw).toBe(onB.raw)
				// A new key makes k2 the oldest one to go.
				const k5 = await o.bid(a.id, 'bob', 1500, undefined, 'k5')
				expect(k5.replayed).toBe(false)
				expect((await o.refusal(o.bid(a.id, 'bob', 1100, undefined, 'k2'))).code).toBe('TOO_LOW')
				expect((await o.bid(a.id, 'bob', 1300, undefined, 'k3')).raw).toBe(k3.raw)
				expect((await own.store.getAuction(a.id))!.seq).toBe(3)
			} finally {
				await own.cleanup()
			}
		})

		test('eventsSince replays the events after a seq, and resets when the seq left the window', async () => {
			clock.set(T0 + 1_000)
			const a = await d.create()
			const all = await store.eventsSince(a.id, 0)
			expect(all).toEqual({ reset: false, items: [], seq: 0, auction: (await store.getAuction(a.id))! })
			for (let i = 0; i < 300; i++) await d.bid(a.id, i % 2 ? 'bob' : 'carol', 1000 + i * 100)
			const tail = await store.eventsSince(a.id, 297)
			if (!tail || tail.reset) throw new Error('expected items')
			expect(tail.seq).toBe(300)
			expect(tail.items.map((e) => JSON.parse(e).seq)).toEqual([298, 299, 300])
			expect(tail.auction).toMatchObject({ id: a.id, seq: 300, price: 1000 + 299 * 100 })
			expect(await store.eventsSince(a.id, 300)).toMatchObject({ reset: false, items: [], seq: 300 })
			// A seq never handed out: the caller's view is stale, so it starts over from the state.
			expect(await store.eventsSince(a.id, 301)).toMatchObject({ reset: true, auction: { id: a.id, seq: 300 } })
			const old = await store.eventsSince(a.id, 0)
			expect(old).toMatchObject({ reset: true, auction: { id: a.id, seq: 300 } })
			expect(await store.eventsSince('no-such-auction', 0)).toBeNull()
		})

		test('lists newest first in cursor pages, optionally by status', async () => {
			// A store of its own: other tests' auctions would interleave.
			const own = await make(clock, {})
			try {
				const o = storeDriver(own.store, clock)
				const ids: string[] = []
				for (let i = 0; i < 7; i++) {
					clock.set(T0 + i)
					ids.push((await o.create({ startsAt: i % 2 ? T0 + 1_000_000 : T0, endsAt: T0 + 2_000_000 })).id)
				}
				clock.set(T0 + 100)
				const seen: string[] = []
				let cursor: string | undefined
				for (;;) {
					const page = await own.store.listAuctions({ limit: 3, cursor })
					expect(page.items.length).toBeLessThanOrEqual(3)
					seen.push(...page.items.map((v) => v.id))
					if (!page.nextCursor) break
					cursor = page.nextCursor
				}
				expect(seen).toEqual([...ids].reverse())
				const scheduled = await own.store.listAuctions({ limit: 2, status: 'scheduled' })
				expect(scheduled.items.map((v) => v.id)).toEqual([ids[5]!, ids[3]!])
				const rest = await own.store.listAuctions({ limit: 2, status: 'scheduled', cursor: scheduled.nextCursor! })
				expect(rest).toEqual({ items: [expect.objectContaining({ id: ids[1]! })], nextCursor: null })
				const err = await o.refusal(own.store.listAuctions({ limit: 2, cursor: 'garbage' }))
				expect(err.code).toBe('VALIDATION')
			} finally {
				await own.cleanup()
			}
		})

		test('listing by status is exact at every moment (starts, ends, soft close, buy-now, closers), in full cursor pages', async () => {
			const own = await make(clock, {})
			try {
				const o = storeDriver(own.store, clock)
				const ids: string[] = [] // oldest first
				// Starting now, at +10 s or +20 s; ending at +30, +40 or +50 s; those starting now
				// with a 10 s soft close, every seventh with buy-now.
				for (let i = 0; i < 90; i++) {
					clock.set(T0 + i)
					const endsAt = T0 + [30_000, 40_000, 50_000][Math.floor(i / 3) % 3]!
					const auction = await o.create({
						startsAt: T0 + [0, 10_000, 20_000][i % 3]!,
						endsAt,
						maxEndsAt: endsAt + 60_000,
						softCloseMs: i % 3 === 0 ? 10_000 : 0,
						buyNowPrice: i % 7 === 0 ? 50_000 : undefined,
					})
					ids.push(auction.id)
				}
				const statuses = ['scheduled', 'open', 'closed'] as const
				const walk = async (status: (typeof statuses)[number], limit: number, from?: string) => {
					const seen: string[] = []
					const sizes: number[] = []
					let cursor = from
					do {
						const page = await own.store.listAuctions({ status, limit, cursor })
						seen.push(...page.items.map((v) => v.id))
						sizes.push(page.items.length)
						cursor = page.nextCursor ?? undefined
					} while (cursor)
					return { seen, sizes }
				}
				const expected = async (status: string) =>
					(await Promise.all(ids.map((id) => own.store.getAuction(id)))).filter((v) => v!.status === status).map((v) => v!.id).reverse()
				const expectExact = async (moment: string, limits = [7, 40]) => {
					for (const status of statuses) {
						const want = await expected(status)
						for (const limit of limits) {
							const { seen, sizes } = await walk(status, limit)
							expect({ moment, status, limit, ids: seen }).toEqual({ moment, status, limit, ids: want })
							// Full pages: only the last may be short, and it is empty only when nothing matches.
							expect({ moment, status, limit, short: sizes.slice(0, -1).filter((n) => n !== limit), last: sizes.at(-1)! > 0 || want.length === 0 })
								.toEqual({ moment, status, limit, short: [], last: true })
						}
					}
				}
				clock.set(T0 + 100)
				expect((await expected('scheduled')).length).toBe(60)
				await expectExact('created', [1, 7, 40, 200])
				clock.set(T0 + 9_999)
				await expectExact('a millisecond before the first starts')
				clock.set(T0 + 10_000)
				await expectExact('the first start, to the millisecond')
				clock.set(T0 + 25_000)
				await o.bid(ids[9]!, 'bob', 1_000) // soft close: now ends at +35 s
				await o.bid(ids[18]!, 'bob', 1_000)
				await o.bid(ids[0]!, 'bob', 50_000) // buy-now: closed at once
				await o.bid(ids[14]!, 'bob', 60_000)
				expect(await own.store.getAuction(ids[9]!)).toMatchObject({ endsAt: T0 + 35_000, status: 'open' })
				expect(await own.store.getAuction(ids[14]!)).toMatchObject({ status: 'closed' })
				await expectExact('soft close and buy-now')
				// A cursor taken before an end and used after it: the rest is what is open then.
				clock.set(T0 + 29_999)
				const first = await own.store.listAuctions({ status: 'open', limit: 7 })
				clock.set(T0 + 30_000)
				const rest = await walk('open', 7, first.nextCursor!)
				const lastShown = ids.indexOf(first.items.at(-1)!.id)
				expect(rest.seen).toEqual((await expected('open')).filter((id) => ids.indexOf(id) < lastShown))
				await expectExact('the first ends, no closer yet')
				clock.set(T0 + 34_999)
				await expectExact('extended ones still open')
				clock.set(T0 + 35_000)
				await expectExact('extended ones end')
				clock.set(T0 + 40_000)
				for (const id of await own.store.dueAuctions(1_000)) await own.store.closeAuction(id)
				await expectExact('after the closers')
				clock.set(T0 + 50_000)
				await expectExact('the last ones end')
				expect(await expected('closed')).toHaveLength(90)
			} finally {
				await own.cleanup()
			}
		})

		test('many auctions: a rare status pages like any other, and closers far behind leave pages bounded and never wrong', async () => {
			const own = await make(clock, {})
			try {
				const o = storeDriver(own.store, clock)
				const ids: string[] = []
				// 260 auctions; the 3 oldest end at +10 s, the next 150 at +20 s, the rest in a day.
				for (let i = 0; i < 260; i++) {
					clock.set(T0 + i)
					ids.push((await o.create({ endsAt: T0 + (i < 3 ? 10_000 : i < 153 ? 20_000 : 86_400_000) })).id)
				}
				clock.set(T0 + 15_000)
				const one = await own.store.listAuctions({ status: 'closed', limit: 1 })
				expect(one.items.map((v) => v.id)).toEqual([ids[2]!])
				const two = await own.store.listAuctions({ status: 'closed', limit: 1, cursor: one.nextCursor! })
				const three = await own.store.listAuctions({ status: 'closed', limit: 5, cursor: two.nextCursor! })
				expect([...two.items, ...three.items].map((v) => v.id)).toEqual([ids[1]!, ids[0]!])
				expect(three.nextCursor).toBeNull()
				// 153 ended with no closer running: more than a listing reads (LISTING_ENDED_MAX).
				clock.set(T0 + 25_000)
				for (const status of ['open', 'closed'] as const) {
					let cursor: string | undefined
					do {
						const page = await own.store.listAuctions({ status, limit: 50, cursor })
						expect(page.items.length).toBeLessThanOrEqual(50)
						for (const view of page.items) expect({ id: view.id, status: view.status }).toEqual({ id: view.id, status })
						cursor = page.nextCursor ?? undefined
					} while (cursor)
				}
				// The closers catch up: exact again.
				for (let due = await own.store.dueAuctions(100); due.length > 0; due = await own.store.dueAuctions(100))
					for (const id of due) await own.store.closeAuction(id)
				const closed: string[] = []
				let cursor: string | undefined
				do {
					const page = await own.store.listAuctions({ status: 'closed', limit: 50, cursor })
					closed.push(...page.items.map((v) => v.id))
					cursor = page.nextCursor ?? undefined
				} while (cursor)
				expect(closed).toEqual(ids.slice(0, 153).reverse())
				const open = await own.store.listAuctions({ status: 'open', limit: 200 })
				expect(open.items.map((v) => v.id)).toEqual(ids.slice(153).reverse())
			} finally {
				await own.cleanup()
			}
		})

		test('closing: due auctions close once at their current end, with the winner only when the reserve is met', async () => {
			const own = await make(clock, {})
			try {
				const o = storeDriver(own.store, clock)
				clock.set(T0)
				const sold = await o.create({ endsAt: T0 + 10_000, softCloseMs: 5_000 })
				const unmet = await o.create({ endsAt: T0 + 10_000, reservePrice: 5_000 })
				const empty = await o.create({ endsAt: T0 + 10_000 })
				const later = await o.create({ endsAt: T0 + 20_000 })
				clock.set(T0 + 1_000)
				await o.bid(sold.id, 'bob', 1_000)
				await o.bid(unmet.id, 'bob', 1_000)
				clock.set(T0 + 9_000)
				await o.bid(sold.id, 'carol', 1_200) // soft close: now ends at T0 + 14 s
				clock.set(T0 + 9_999)
				expect(await own.store.dueAuctions(10)).toEqual([])
				clock.set(T0 + 10_000)
				// Due is a hint (Redis lists the scheduled end, memory the current one); closeAuction decides.
				const due = await own.store.dueAuctions(10)
				expect(due).toEqual(expect.arrayContaining([unmet.id, empty.id]))
				expect(due.filter((id) => ![sold.id, unmet.id, empty.id].includes(id))).toEqual([])
				expect(await own.store.closeAuction(sold.id)).toEqual({ outcome: 'not-due', endsAt: T0 + 14_000 })
				const closeOf = async (id: string) => {
					const r = await own.store.closeAuction(id)
					if (r.outcome !== 'closed') throw new Error(`expected closed, got ${r.outcome}`)
					return JSON.parse(r.event)
				}
				expect(await closeOf(unmet.id)).toMatchObject({ type: 'auction.closed', auction: unmet.id, seq: 2, at: T0 + 10_000, winner: null, price: 1_000, reserveMet: false })
				expect(await closeOf(empty.id)).toMatchObject({ seq: 1, winner: null, price: null, reserveMet: true })
				expect(await own.store.closeAuction(empty.id)).toEqual({ outcome: 'already' })
				expect(await own.store.dueAuctions(10)).toEqual([])
				clock.set(T0 + 14_000)
				expect(await own.store.dueAuctions(10)).toEqual([sold.id])
				const closed = await closeOf(sold.id)
				expect(closed).toMatchObject({ seq: 3, winner: 'carol', price: 1_200, reserveMet: true })
				expect(closed.id).toMatch(/^[0-9a-f-]{36}$/)
				expect(await own.store.getAuction(sold.id)).toMatchObject({ status: 'closed', winner: 'carol', seq: 3 })
				const replay = await own.store.eventsSince(sold.id, 2)
				expect(replay && !replay.reset && replay.items.map((e) => JSON.parse(e).type)).toEqual(['auction.closed'])
				const err = await o.refusal(o.bid(sold.id, 'dave', 5_000))
				expect(err.code).toBe('CLOSED')
				expect(await own.store.closeAuction('no-such-auction')).toEqual({ outcome: 'not-found' })
				clock.set(T0 + 20_000)
				expect(await own.store.dueAuctions(10)).toEqual([later.id])
			} finally {
				await own.cleanup()
			}
		})

		test('a buy-now close leaves nothing for the closer', async () => {
			const own = await make(clock, {})
			try {
				const o = storeDriver(own.store, clock)
				clock.set(T0)
				const a = await o.create({ endsAt: T0 + 10_000, buyNowPrice: 5_000 })
				clock.set(T0 + 1_000)
				await o.bid(a.id, 'bob', 5_000)
				clock.set(T0 + 10_000)
				for (const id of await own.store.dueAuctions(10)) expect(await own.store.closeAuction(id)).toEqual({ outcome: 'already' })
				expect(await own.store.dueAuctions(10)).toEqual([])
				expect((await own.store.getAuction(a.id))!.seq).toBe(2)
			} finally {
				await own.cleanup()
			}
		})

		describe('state records and restore: the store rebuilt from the log is the same store', () => {
			/** Every commit of one auction, as a rebuild would find them in the log. */
			interface Log {
				states: StateRecord[]
				events: string[]
				/** The steps (by index) that were accepted, so their Idempotency-Keys have answers. */
				accepted: number[]
			}
			const fresh = async () => make(clock, { eventsKept: 100 })
			/** What a rebuild restores from a log: the newest state, the window, the answers in force. */
			const restorable = (log: Log): Restorable => {
				const state = log.states.reduce((a, b) => (b.rev > a.rev ? b : a))
				return {
					state,
					events: log.events.slice(0, state.record.seq + 1),
					idempotency: log.states.flatMap((s) => (s.idempotency ? [s.idempotency] : [])),
				}
			}
			/** Runs a scenario on `store`, logging each commit; refusals commit nothing. */
			const play = async (target: BidStore, scenario: Scenario, keyed = false): Promise<{ id: string; log: Log }> => {
				const driver = storeDriver(target, clock)
				clock.set(T0)
				const created = await driver.create(scenario.auction)
				const record = (await target.eventsSince(created.id, -1))!
				const log: Log = {
					states: [],
					events: record.reset ? [] : record.items,
					accepted: [],
				}
				for (const [i, step] of scenario.steps.entries()) {
					clock.set(T0 + (step.at ?? 1_000))
					try {
						const r = await driver.bid(created.id, step.bidder, step.amount, step.max, keyed ? `k${i}` : undefined)
						log.states.push(r.state!)
						log.events.push(...r.rawEvents)
						log.accepted.push(i)
					} catch (err) {
						if (!(err instanceof AppError)) throw err
					}
				}
				return { id: created.id, log }
			}
			/** An answer without what differs by nature between two stores (new event ids). */
			const comparable = (raw: string) => raw.replace(/"id":"[0-9a-f-]{36}"/g, '"id":"…"')

			test('each accepted bid has a state record: rev counts commits, its view is the answer, hidden fields kept', async () => {
				const { log } = await play(store, {
					name: 'proxy and reserve',
					auction: { reservePrice: 5000 },
					steps: [
						{ bidder: 'bob', amount: 1000, max: 3000, expect: {} },
						{ bidder: 'bob', amount: 1100, max: 4000, expect: {} }, // a hidden raise: no event, still a commit
						{ bidder: 'carol', amount: 900, expect: {} }, // refused: no commit
						{ bidder: 'carol', amount: 2000, max: 6000, expect: {} },
					],
				})
				expect(log.states.map((s) => s.rev)).toEqual([1, 2, 3])
				expect(log.states.map((s) => s.record.leaderMax)).toEqual([3000, 4000, 6000])
				expect(log.states.every((s) => s.record.reservePrice === 5000)).toBe(true)
				const last = log.states[2]!
				expect(last.record).toMatchObject({ price: 5000, leader: 'carol', reserveMet: true, seq: 2, bidCount: 2, closed: false })
				expect(stateRecordJson(last.record, last.rev, last.at, last.idempotency)).toBe(JSON.stringify(last))
			})

			for (const scenario of RULES) {
				test(`restored after "${scenario.name}", it answers the next bids exactly as the original`, async () => {
					const { id, log } = await play(store, scenario, true)
					if (log.states.length === 0) return // nothing was accepted: nothing to rebuild but the creation
					const copy = await fresh()
					try {
						expect(await copy.store.restore(restorable(log))).toBe('restored')
						clock.set(T0 + 2_000)
						expect(await copy.store.getAuction(id)).toEqual(await store.getAuction(id))
						expect(await copy.store.eventsSince(id, 0)).toEqual(await store.eventsSince(id, 0))
						// Every key answered before the rebuild is answered the same after it, byte for byte
						// (while the auction still takes bids: rule 1 comes before a replay).
						for (const i of log.accepted) {
							const step = scenario.steps[i]!
							clock.set(T0 + (step.at ?? 1_000))
							const request = { auction: id, bidder: step.bidder, amount: step.amount, maxAmount: step.max, idempotencyKey: `k${i}` }
							const [before, after] = await Promise.allSettled([store.placeBid(request), copy.store.placeBid(request)])
							expect(after.status).toBe(before.status)
							if (before.status === 'fulfilled' && after.status === 'fulfilled') {
								expect(before.value.replayed).toBe(true)
								expect(after.value.answer).toBe(before.value.answer)
							} else expect((after as PromiseRejectedResult).reason.code).toBe((before as PromiseRejectedResult).reason.code)
						}
						clock.set(T0 + 2_000)
						// The hidden state is there: new bids from here on are decided the same way.
						for (const [bidder, amount, max] of [['zed', 1_000_000, undefined], ['yan', 2_000_000, 9_000_000], ['zed', 3_000_000, undefined]] as const) {
							const request = { auction: id, bidder, amount, maxAmount: max }
							const [before, after] = await Promise.allSettled([store.placeBid(request), copy.store.placeBid(request)])
							expect(after.status).toBe(before.status)
							if (before.status === 'fulfilled' && after.status === 'fulfilled') expect(comparable(after.value.answer)).toBe(comparable(before.value.answer))
							else expect((after as PromiseRejectedResult).reason.code).toBe((before as PromiseRejectedResult).reason.code)
						}
					} finally {
						await copy.cleanup()
					}
				})
			}

			test("stateOf is the store's current state record: the last commit's rev and record, no answer", async () => {
				const { id, log } = await play(store, {
					name: 'two bids and a hidden raise',
					steps: [
						{ bidder: 'bob', amount: 1000, max: 2000, expect: {} },
						{ bidder: 'carol', amount: 1500, expect: {} },
						{ bidder: 'bob', amount: 1700, max: 9000, expect: {} },
					],
				}, true)
				const current = parseStateRecord((await store.stateOf(id))!)
				const last = log.states[log.states.length - 1]!
				expect(current.rev).toBe(last.rev)
				expect(current.record).toEqual(last.record)
				expect(current.idempotency).toBeNull()
				expect(await store.stateOf('no-such-auction')).toBeNull()
			})

			test('a restore never goes back in time: an older rev is kept out', async () => {
				const { id, log } = await play(store, {
					name: 'three bids',
					steps: [
						{ bidder: 'bob', amount: 1000, expect: {} },
						{ bidder: 'carol', amount: 1100, expect: {} },
						{ bidder: 'bob', amount: 1200, expect: {} },
					],
				})
				const older = { state: log.states[0]!, events: log.events.slice(0, 2), idempotency: [] }
				expect(await store.restore(older)).toBe('kept')
				expect((await store.getAuction(id))!.price).toBe(1200)
				const copy = await fresh()
				try {
					expect(await copy.store.restore(older)).toBe('restored')
					expect(await copy.store.restore(restorable(log))).toBe('restored')
					expect(await copy.store.restore(older)).toBe('kept')
					expect((await copy.store.getAuction(id))!).toMatchObject({ price: 1200, leader: 'bob', seq: 3 })
				} finally {
					await copy.cleanup()
				}
			})

			test('a closed auction restores closed; an open one is listed, scheduled to close, and closes once', async () => {
				clock.set(T0)
				const open = await d.create({ endsAt: T0 + 10_000 })
				clock.set(T0 + 1_000)
				const bid = await d.bid(open.id, 'bob', 1000)
				const closing = await d.create({ endsAt: T0 + 5_000 })
				await d.bid(closing.id, 'carol', 1500)
				clock.set(T0 + 5_000)
				const closed = await store.closeAuction(closing.id)
				if (closed.outcome !== 'closed') throw new Error(`expected a close, got ${closed.outcome}`)
				const closedState = parseStateRecord(closed.state)
				expect(closedState.record).toMatchObject({ closed: true, winner: 'carol', price: 1500, seq: 2 })
				const copy = await fresh()
				try {
					const closingEvents = (await store.eventsSince(closing.id, -1)) as { items: string[] }
					expect(await copy.store.restore({ state: closedState, events: closingEvents.items, idempotency: [] })).toBe('restored')
					const openEvents = (await store.eventsSince(open.id, -1)) as { items: string[] }
					expect(await copy.store.restore({ state: bid.state!, events: openEvents.items, idempotency: [] })).toBe('restored')
					expect((await copy.store.getAuction(closing.id))!).toMatchObject({ status: 'closed', winner: 'carol' })
					expect(await copy.store.dueAuctions(10)).toEqual([])
					expect((await copy.store.listAuctions({ status: 'open', limit: 10 })).items.map((a) => a.id)).toEqual([open.id])
					expect((await copy.store.listAuctions({ status: 'closed', limit: 10 })).items.map((a) => a.id)).toEqual([closing.id])
					clock.set(T0 + 10_000)
					expect(await copy.store.dueAuctions(10)).toEqual([open.id])
					const result = await copy.store.closeAuction(open.id)
					expect(result).toMatchObject({ outcome: 'closed' })
					if (result.outcome === 'closed') expect(parseStateRecord(result.state)).toMatchObject({ rev: 2, record: { closed: true, winner: 'bob', seq: 2 } })
					expect(await copy.store.closeAuction(open.id)).toEqual({ outcome: 'already' })
				} finally {
					await copy.cleanup()
				}
			})

			test('answers older than the idempotency TTL are not restored: the key places a new bid', async () => {
				clock.set(T0)
				const a = await d.create({ endsAt: T0 + 3 * 86_400_000 })
				clock.set(T0 + 1_000)
				const first = await d.bid(a.id, 'bob', 1000, undefined, 'old-key')
				const entry: IdempotencyEntry = first.state!.idempotency!
				expect(entry).toMatchObject({ bidder: 'bob', key: 'old-key', at: T0 + 1_000 })
				const events = (await store.eventsSince(a.id, -1)) as { items: string[] }
				const copy = await fresh()
				try {
					clock.set(T0 + 1_000 + 86_400_000)
					expect(await copy.store.restore({ state: first.state!, events: events.items, idempotency: [entry] })).toBe('restored')
					// Restored, the key would pin 1000: IDEMPOTENCY_KEY_REUSED. Gone with its TTL, it is a new bid.
					const again = await copy.store.placeBid({ auction: a.id, bidder: 'bob', amount: 1100, idempotencyKey: 'old-key' })
					expect(again.replayed).toBe(false)
				} finally {
					await copy.cleanup()
				}
			})
		})

		test('concurrent bids on one auction leave a dense seq and the highest bid in front', async () => {
			clock.set(T0 + 1_000)
			const a = await d.create()
			const bidders = Array.from({ length: 20 }, (_, i) => `b${i}`)
			const results = await Promise.allSettled(
				Array.from({ length: 400 }, (_, i) => d.bid(a.id, bidders[i % 20]!, 1000 + i * 100)),
			)
			const accepted = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
			const seqs = accepted.flatMap((r) => r.events.map((e) => e.seq)).sort((x, y) => x - y)
			expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1))
			const final = (await store.getAuction(a.id))!
			const highest = Math.max(...accepted.map((r) => r.bid?.amount ?? 0))
			expect(final.price).toBe(highest)
			expect(final.seq).toBe(seqs.length)
		})
	})
}
