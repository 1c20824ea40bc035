import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { newEventId, type AuctionClosed, type AuctionCreated, type BidPlaced, type GavelEvent } from '../../src/events.ts'
import { ArchiveDataError, type Archive, type ArchiveEvent, type ArchiveState } from '../../src/ports/archive.ts'
import { newAuction } from '../../src/domain/new-auction.ts'
import { parseStateRecord, stateRecordJson, type IdempotencyEntry } from '../../src/domain/state-record.ts'
import type { AuctionRecord } from '../../src/domain/auction.ts'

export interface ArchiveHarness {
	archive: Archive
	cleanup(): Promise<void>
}

const T0 = Date.UTC(2030, 0, 1)
let nextAuction = 0
const uniqueAuction = () => `arch${Date.now().toString(36)}${(nextAuction++).toString(36)}`

/** Builds one auction's events with dense seqs, as a store would. */
export function auctionEvents(auction = uniqueAuction()) {
	let seq = 0
	let price: number | null = null
	let leader: string | null = null
	const wrap = <E extends GavelEvent>(event: E): ArchiveEvent & { event: E } => ({ event, json: JSON.stringify(event) })
	return {
		auction,
		created(overrides: Partial<AuctionCreated> = {}) {
			return wrap<AuctionCreated>({
				id: newEventId(),
				type: 'auction.created',
				auction,
				seq: 0,
				at: T0,
				title: 'Brass lamp',
				sellerId: 'sam',
				currency: 'EUR',
				startingPrice: 1000,
				increment: [{ from: 0, step: 100 }],
				buyNowPrice: null,
				softCloseMs: 30_000,
				startsAt: T0,
				endsAt: T0 + 600_000,
				maxEndsAt: T0 + 4_200_000,
				reserveMet: true,
				...overrides,
			})
		},
		bid(bidder: string, amount: number, overrides: Partial<BidPlaced> = {}) {
			seq++
			price = amount
			leader = bidder
			return wrap<BidPlaced>({
				id: newEventId(),
				type: 'bid.placed',
				auction,
				seq,
				at: T0 + seq * 1000,
				bidder,
				amount,
				price: amount,
				leader: bidder,
				proxy: false,
				endsAt: T0 + 600_000 + seq,
				reserveMet: true,
				...overrides,
			})
		},
		closed() {
			seq++
			return wrap<AuctionClosed>({
				id: newEventId(),
				type: 'auction.closed',
				auction,
				seq,
				at: T0 + 600_000,
				winner: leader,
				price,
				reserveMet: true,
			})
		},
	}
}

/** Another event (new id) for the same auction and seq, as a store that lost writes would send it. */
export function rival<E extends GavelEvent>(of: ArchiveEvent & { event: E }, overrides: Partial<E> = {}): ArchiveEvent & { event: E } {
	const event: E = { ...of.event, id: newEventId(), ...overrides }
	return { event, json: JSON.stringify(event) }
}

/** archiveContract is the one suite both Archive adapters must pass. */

/** A state record of `auction` at `rev`, as a store would hand it over (the record's seq follows `seq`). */
export function stateOf(auction: string, rev: number, changes: Partial<AuctionRecord> = {}, idempotency: IdempotencyEntry | null = null): ArchiveState {
	const base = newAuction({ id: auction, title: 'Brass lamp', startingPrice: 1000, increment: 100, startsAt: T0, endsAt: T0 + 600_000, reservePrice: 5000 }, 'sam', T0)
	const json = stateRecordJson({ ...base, ...changes }, rev, T0 + rev * 1000, idempotency)
	return { state: parseStateRecord(json), json }
}

export function archiveContract(name: string, make: () => Promise<ArchiveHarness>) {
	describe(`Archive contract: ${name}`, () => {
		let harness: ArchiveHarness
		let archive: Archive
		beforeAll(async () => {
			harness = await make()
			archive = harness.archive
		})
		afterAll(() => harness.cleanup())

		describe('state records: the private half, kept for a rebuild and never shown', () => {
			const answer = (bidder: string, key: string, at: number, amount: number): IdempotencyEntry => ({
				bidder,
				key,
				at,
				fingerprint: `${amount}:`,
				answer: `{"bid":null,"auction":{"price":${amount}},"leading":true}`,
			})

			test('keeps the newest state by rev, whatever order they arrive in, and never in the history', async () => {
				const a = auctionEvents()
				await archive.write([a.created(), a.bid('bob', 1000), a.bid('carol', 1100)])
				await archive.writeStates([stateOf(a.auction, 1, { seq: 1, price: 1000, leader: 'bob', leaderMax: 3000, bidCount: 1 })])
				await archive.writeStates([
					stateOf(a.auction, 3, { seq: 2, price: 1100, leader: 'carol', leaderMax: 9000, bidCount: 2 }),
					stateOf(a.auction, 2, { seq: 1, price: 1000, leader: 'bob', leaderMax: 4000, bidCount: 1 }),
				])
				await archive.writeStates([stateOf(a.auction, 2, { seq: 1, leaderMax: 1 })]) // late: changes nothing
				const [found] = await archive.restorables({ after: '', limit: 10, eventsKept: 100, answersSince: 0, closedSince: Number.MAX_SAFE_INTEGER, ids: [a.auction] })
				expect(found?.state).toMatchObject({ auction: a.auction, rev: 3, record: { leaderMax: 9000, reservePrice: 5000, price: 1100 } })
				expect(found?.events.map((e) => JSON.parse(e).seq)).toEqual([0, 1, 2])
				const history = JSON.stringify(await archive.bids(a.auction, { order: 'asc', limit: 10 }))
				expect(history).not.toMatch(/leaderMax|reservePrice|9000/)
			})

			test('a restorable has the last events up to its state, the answers in force, and skips what is closed', async () => {
				const open = auctionEvents()
				const events = [open.created(), ...Array.from({ length: 12 }, (_, i) => open.bid(i % 2 ? 'bob' : 'carol', 1000 + 100 * i))]
				await archive.write(events)
				const old = answer('bob', 'k-old', T0, 1000)
				const kept = answer('bob', 'k-new', T0 + 5_000, 1200)
				await archive.writeStates([
					stateOf(open.auction, 9, { seq: 10 }, old),
					stateOf(open.auction, 10, { seq: 11 }, kept),
					stateOf(open.auction, 11, { seq: 11 }, { ...kept, at: T0 + 6_000, answer: '{"newer":true}' }),
				])
				const closed = auctionEvents()
				await archive.write([closed.created(), closed.bid('dave', 1000), closed.closed()])
				await archive.writeStates([stateOf(closed.auction, 2, { seq: 2, closed: true, winner: 'dave' })])
				const ids = [open.auction, closed.auction].sort()
				const page = await archive.restorables({ after: '', limit: 10, eventsKept: 5, answersSince: T0 + 1_000, closedSince: Number.MAX_SAFE_INTEGER, ids })
				expect(page.map((r) => r.state.auction)).toEqual([open.auction])
				const [r] = page
				expect(r!.events.map((e) => JSON.parse(e).seq)).toEqual([7, 8, 9, 10, 11])
				expect(r!.events[4]).toBe(events[11]!.json)
				expect(r!.idempotency).toEqual([{ ...kept, at: T0 + 6_000, answer: '{"newer":true}' }])
				// Closed lately: a rebuild that wants those too names the time.
				const withClosed = await archive.restorables({ after: '', limit: 10, eventsKept: 5, answersSince: 0, closedSince: T0, ids })
				expect(withClosed.map((x) => x.state.auction)).toEqual(ids)
				// Paging by id.
				const first = await archive.restorables({ after: '', limit: 1, eventsKept: 5, answersSince: 0, closedSince: T0, ids })
				const second = await archive.restorables({ after: first[0]!.state.auction, limit: 1, eventsKept: 5, answersSince: 0, closedSince: T0, ids })
				expect([...first, ...second].map((x) => x.state.auction)).toEqual(ids)
				expect(await archive.pruneAnswers(T0 + 5_500)).toBeGreaterThanOrEqual(1)
				const after = await archive.restorables({ after: '', limit: 10, eventsKept: 5, answersSince: 0, closedSince: Number.MAX_SAFE_INTEGER, ids })
				expect(after[0]!.idempotency.map((x) => x.key)).toEqual(['k-new'])
			})
		})

		test('stores each event once, verbatim; writing a batch again changes nothing', async () => {
			const a = auctionEvents()
			const batch = [a.created(), a.bid('bob', 1000), a.bid('carol', 1100)]
			expect(await archive.write(batch)).toEqual({ written: 3, conflicts: [] })
			// Redelivered, even twice in one batch: duplicates, never conflicts.
			expect(await archive.write(batch)).toEqual({ written: 0, conflicts: [] })
			expect(await archive.write([...batch, batch[1]!, a.bid('bob', 1200)])).toEqual({ written: 1, conflicts: [] })
			const stored = await archive.events(a.auction, -1, 100)
			expect(stored.map((e) => e.seq)).toEqual([0, 1, 2, 3])
			expect(stored.slice(0, 3).map((e) => e.json)).toEqual(batch.map((e) => e.json))
			expect(JSON.parse(stored[3]!.json)).toMatchObject({ type: 'bid.placed', bidder: 'bob', amount: 1200 })
			expect(await archive.auction(a.auction)).toMatchObject({ eventCount: 4, bidCount: 3, lastSeq: 3 })
		})

		test('keeps the auction row current: settings from created, state from bids, outcome from closed', async () => {
			const a = auctionEvents()
			await archive.write([a.created({ reserveMet: false })])
			expect(await archive.auction(a.auction)).toEqual({
				id: a.auction,
				title: 'Brass lamp',
				sellerId: 'sam',
				currency: 'EUR',
				startingPrice: 1000,
				status: 'open',
				price: null,
				leader: null,
				reserveMet: false,
				endsAt: T0 + 600_000,
				winner: null,
				bidCount: 0,
				eventCount: 1,
				lastSeq: 0,
			})
			await archive.write([a.bid('bob', 1000, { reserveMet: false }), a.bid('carol', 1500, { endsAt: T0 + 700_000 })])
			expect(await archive.auction(a.auction)).toMatchObject({ price: 1500, leader: 'carol', reserveMet: true, endsAt: T0 + 700_000, bidCount: 2 })
			await archive.write([a.closed()])
			expect(await archive.auction(a.auction)).toMatchObject({ status: 'closed', winner: 'carol', price: 1500, eventCount: 4, lastSeq: 3 })
		})

		test('events arriving out of order (as crash repair sends them) end in the same row', async () => {
			const a = auctionEvents()
			const created = a.created()
			const first = a.bid('bob', 1000)
			const second = a.bid('carol', 1100)
			const closed = a.closed()
			await archive.write([second])
			await archive.write([closed])
			await archive.write([first, created])
			expect(await archive.auction(a.auction)).toMatchObject({
				title: 'Brass lamp',
				status: 'closed',
				price: 1100,
				leader: 'carol',
				winner: 'carol',
				endsAt: second.event.endsAt,
				bidCount: 2,
				eventCount: 4,
				lastSeq: 3,
			})
		})

		test('another event id on a taken (auction, seq) is a conflict: reported with the stored event, the first stays, the rest is written', async () => {
			const a = auctionEvents()
			const created = a.created()
			const bid = a.bid('bob', 1000)
			await archive.write([created, bid])
			const impostor = rival(bid, { bidder: 'mallory', amount: 5000, price: 5000, leader: 'mallory' })
			const next = a.bid('carol', 1100)
			const batch = [impostor, next]
			const result = await archive.write(batch)
			expect(result).toEqual({
				written: 1,
				conflicts: [{ auction: a.auction, seq: 1, stored: { id: bid.event.id, json: bid.json }, incoming: impostor }],
			})
			expect(result.conflicts[0]!.incoming).toBe(batch[0]!) // the caller's own element, to settle it
			expect((await archive.events(a.auction, -1, 10)).map((e) => e.json)).toEqual([created.json, bid.json, next.json])
			// The refused event is not folded into the auction row either.
			expect(await archive.auction(a.auction)).toMatchObject({ eventCount: 3, bidCount: 2, lastSeq: 2, price: 1100, leader: 'carol' })
			// Written again (a redelivery), it is reported again: it is still not archived.
			expect((await archive.write([impostor])).conflicts.map((c) => c.incoming.event.id)).toEqual([impostor.event.id])
			// The stored event itself is only a duplicate.
			expect(await archive.write([bid])).toEqual({ written: 0, conflicts: [] })
		})

		test('two events claiming one seq in the same batch: the earlier is stored, the later is the conflict', async () => {
			const a = auctionEvents()
			const created = a.created()
			const first = a.bid('bob', 1000)
			const second = rival(first, { bidder: 'mallory' })
			const third = rival(first, { bidder: 'trent' })
			const result = await archive.write([created, first, second, third])
			expect(result.written).toBe(2)
			expect(result.conflicts.map((c) => [c.seq, c.stored.id, c.incoming.event.id])).toEqual([
				[1, first.event.id, second.event.id],
				[1, first.event.id, third.event.id],
			])
			expect((await archive.events(a.auction, 0, 10)).map((e) => e.json)).toEqual([first.json])
			expect(await archive.auction(a.auction)).toMatchObject({ eventCount: 2, bidCount: 1, leader: 'bob' })
		})

		test('history pages bid.placed only, newest first or oldest first, continuing after a seq', async () => {
			const a = auctionEvents()
			const bids = Array.from({ length: 7 }, (_, i) => a.bid(`u${i}`, 1000 + 100 * i))
			await archive.write([a.created(), ...bids, a.closed()])
			const seqs = (page: { seq: number }[] | null) => page?.map((e) => e.seq)
			expect(seqs(await archive.bids(a.auction, { order: 'desc', limit: 3 }))).toEqual([7, 6, 5])
			expect(seqs(await archive.bids(a.auction, { order: 'desc', after: 5, limit: 3 }))).toEqual([4, 3, 2])
			expect(seqs(await archive.bids(a.auction, { order: 'desc', after: 2, limit: 3 }))).toEqual([1])
			expect(seqs(await archive.bids(a.auction, { order: 'asc', limit: 4 }))).toEqual([1, 2, 3, 4])
			expect(seqs(await archive.bids(a.auction, { order: 'asc', after: 4, limit: 4 }))).toEqual([5, 6, 7])
			expect(seqs(await archive.bids(a.auction, { order: 'asc', after: 7, limit: 4 }))).toEqual([])
			const page = await archive.bids(a.auction, { order: 'asc', limit: 1 })
			expect(page![0]!.json).toBe(bids[0]!.json)
			expect(await archive.bids('no-such-auction', { order: 'desc', limit: 10 })).toBeNull()
			const quiet = auctionEvents()
			await archive.write([quiet.created()])
			expect(await archive.bids(quiet.auction, { order: 'desc', limit: 10 })).toEqual([])
		})

		test('finds auctions that may still lack events, and the seqs they lack', async () => {
			const open = auctionEvents('p-open')
			const holed = auctionEvents('p-holed')
			const done = auctionEvents('p-done')
			await archive.write([open.created(), open.bid('bob', 1000)])
			const holedEvents = [holed.created(), holed.bid('bob', 1000), holed.bid('carol', 1100), holed.bid('bob', 1200), holed.closed()]
			await archive.write(holedEvents.filter((_, i) => i !== 2))
			await archive.write([done.created(), done.bid('bob', 1000), done.closed()])

			const unsettled = (await archive.unsettled('p-', 100)).filter((p) => p.id.startsWith('p-'))
			expect(unsettled).toEqual([
				{ id: 'p-holed', lastSeq: 4, eventCount: 4, closed: true },
				{ id: 'p-open', lastSeq: 1, eventCount: 2, closed: false },
			])
			expect((await archive.unsettled('p-holed', 1)).map((p) => p.id)).toEqual(['p-open'])
			const progress = await archive.progress(['p-done', 'p-open', 'p-unknown'])
			expect(progress.sort((x, y) => x.id.localeCompare(y.id))).toEqual([
				{ id: 'p-done', lastSeq: 2, eventCount: 3, closed: true },
				{ id: 'p-open', lastSeq: 1, eventCount: 2, closed: false },
			])
			expect(await archive.missingSeqs('p-holed', 6, 10)).toEqual([2, 5, 6])
			expect(await archive.missingSeqs('p-holed', 6, 2)).toEqual([2, 5])
			expect(await archive.missingSeqs('p-open', 1, 10)).toEqual([])
			expect(await archive.missingSeqs('p-never-seen', 1, 10)).toEqual([0, 1])

			await archive.write([holedEvents[2]!])
			expect((await archive.unsettled('p-', 100)).map((p) => p.id).filter((id) => id.startsWith('p-'))).toEqual(['p-open'])
		})

		test('a batch whose content the archive refuses rejects with ArchiveDataError and stores none of it', async () => {
			const a = auctionEvents()
			const good = a.bid('bob', 1000)
			const bad = a.bid('carol', 1100)
			const broken = { ...bad.event, seq: -1 }
			const err = await archive.write([good, { event: broken, json: JSON.stringify(broken) }]).catch((e: unknown) => e)
			expect(err).toBeInstanceOf(ArchiveDataError)
			expect(await archive.events(a.auction, -1, 10)).toEqual([])
			expect(await archive.auction(a.auction)).toBeNull()
		})

		test('writes a batch of 5,000 events over 50 auctions in one call, counts exact', async () => {
			const auctions = Array.from({ length: 50 }, () => auctionEvents())
			const batch = auctions.flatMap((a) => [a.created(), ...Array.from({ length: 99 }, (_, i) => a.bid(`u${i % 7}`, 1000 + i * 10))])
			expect(await archive.write(batch)).toEqual({ written: 5_000, conflicts: [] })
			for (const a of [auctions[0]!, auctions[49]!]) {
				expect(await archive.auction(a.auction)).toMatchObject({ eventCount: 100, bidCount: 99, lastSeq: 99, price: 1980 })
				expect((await archive.events(a.auction, -1, 1000)).length).toBe(100)
			}
			await archive.ping()
		})
	})
}
