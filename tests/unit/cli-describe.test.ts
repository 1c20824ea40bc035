import { describe, expect, test } from 'bun:test'
import type { AuctionView } from '../../src/domain/auction.ts'
import type { BidPlaced, GavelEvent } from '../../src/events.ts'
import { afterEvent, clockSeconds, describeEvent, extendedTo, money, span, when, type Known } from '../../src/cli/describe.ts'
import { auctionTable, describeAuction, describeCreated, describeIncrement, describePlaced } from '../../src/cli/describe-auction.ts'

// Local wall time: every expected clock string is built from the same Date, never assumed.
const NOW = new Date(2030, 0, 1, 12, 0, 0).getTime()
const MIN = 60_000

const lamp = (overrides: Partial<AuctionView> = {}): AuctionView => ({
	id: 'lamp',
	title: 'Brass lamp',
	sellerId: 'sam',
	currency: 'USD',
	startingPrice: 1000,
	increment: 100,
	buyNowPrice: null,
	softCloseMs: 0,
	startsAt: NOW,
	maxEndsAt: NOW + 70 * MIN,
	createdAt: NOW,
	endsAt: NOW + 10 * MIN,
	status: 'open',
	price: null,
	leader: null,
	bidCount: 0,
	seq: 0,
	reserveMet: true,
	winner: null,
	...overrides,
})

const bid = (seq: number, overrides: Partial<BidPlaced> = {}): BidPlaced => ({
	id: `e${seq}`,
	type: 'bid.placed',
	auction: 'lamp',
	seq,
	at: NOW + seq * 1000,
	bidder: 'bob',
	amount: 1000 + seq * 100,
	price: 1000 + seq * 100,
	leader: 'bob',
	proxy: false,
	endsAt: NOW + 10 * MIN,
	reserveMet: true,
	...overrides,
})

describe('times and money', () => {
	test('money uses the currency’s digits', () => {
		expect(money(1250, 'USD')).toBe('12.50')
		expect(money(1250, 'JPY')).toBe('1250')
		expect(money(1250, 'BHD')).toBe('1.250')
		expect(money(null, 'USD')).toBe('–')
	})

	test('span gives the two largest units, rounded to the second', () => {
		expect(span(0)).toBe('0s')
		expect(span(45_000)).toBe('45s')
		expect(span(599_990)).toBe('10m')
		expect(span(598_000)).toBe('9m 58s')
		expect(span(2 * 3_600_000 + 5 * MIN + 7_000)).toBe('2h 5m')
		expect(span(3 * 86_400_000 + 30_000)).toBe('3d')
	})

	test('when is the wall time and how far away it is; another day shows its date', () => {
		expect(when(NOW + 10 * MIN, NOW)).toBe('12:10:00 (in 10m)')
		expect(when(NOW - 3 * MIN, NOW)).toBe('11:57:00 (3m ago)')
		expect(clockSeconds(new Date(2030, 0, 3, 9, 5, 0).getTime(), NOW)).toBe('2030-01-03 09:05:00')
	})
})

describe('auction create', () => {
	test('an open auction in one line', () => {
		expect(describeCreated(lamp(), NOW)).toBe('lamp "Brass lamp" open · starts at 10.00 USD · increment 1.00 · ends 12:10:00 (in 10m)')
	})

	test('a scheduled one with every option; the reserve is the seller’s own, hidden from bidders', () => {
		const a = lamp({ status: 'scheduled', startsAt: NOW + 5 * MIN, buyNowPrice: 5000, softCloseMs: 30_000, currency: 'EUR', increment: [{ from: 0, step: 100 }, { from: 10_000, step: 500 }] })
		expect(describeCreated(a, NOW, 2000)).toBe(
			'lamp "Brass lamp" scheduled · opens 12:05:00 (in 5m) · starts at 10.00 EUR · increment 1.00, 5.00 from 100.00 · ' +
				'reserve 20.00 (hidden from bidders) · buy now 50.00 · soft close 30s · ends 12:10:00 (in 10m)',
		)
		expect(describeIncrement(250, 'JPY')).toBe('250')
	})
})

describe('bid', () => {
	test('leading: the price, your maximum and the next minimum', () => {
		const placed = { bid: bid(1, { amount: 1100, price: 1100 }), auction: lamp({ price: 1100, leader: 'bob', bidCount: 1, seq: 1 }), leading: true }
		expect(describePlaced(placed, 2500)).toBe('bob leads at 11.00 USD · your maximum is now 25.00 · next minimum 12.00')
		// Without --max the maximum is the bid itself: nothing hidden to report.
		expect(describePlaced(placed, 1100)).toBe('bob leads at 11.00 USD · next minimum 12.00')
	})

	test('outbid by the leader’s proxy', () => {
		const placed = {
			bid: bid(2, { bidder: 'carol', amount: 1500, price: 1600, leader: 'bob', proxy: true }),
			auction: lamp({ price: 1600, leader: 'bob', bidCount: 2, seq: 2 }),
			leading: false,
		}
		expect(describePlaced(placed, 1500)).toBe('outbid by a proxy bid: price 16.00 USD, leader bob · next minimum 17.00')
	})

	test('a leader who only raised the maximum is told the price did not move', () => {
		const placed = { bid: null, auction: lamp({ price: 1100, leader: 'bob', bidCount: 1, seq: 1 }), leading: true }
		expect(describePlaced(placed, 3000)).toBe('you still lead at 11.00 USD · your maximum is now 30.00 (hidden; the price did not move)')
	})

	test('buy now wins at once', () => {
		const placed = {
			bid: bid(1, { bidder: 'dora', amount: 5000, price: 5000, leader: 'dora' }),
			auction: lamp({ status: 'closed', price: 5000, leader: 'dora', winner: 'dora', buyNowPrice: 5000, bidCount: 1, seq: 2 }),
			leading: true,
		}
		expect(describePlaced(placed, 5000)).toBe('you won at 50.00 USD (buy now) · the auction is closed')
	})

	test('an unmet reserve is mentioned', () => {
		const placed = { bid: bid(1, { reserveMet: false }), auction: lamp({ price: 1100, leader: 'bob', reserveMet: false, bidCount: 1, seq: 1 }), leading: true }
		expect(describePlaced(placed, 1100)).toBe('bob leads at 11.00 USD · reserve not met yet · next minimum 12.00')
	})
})

describe('auction list and show', () => {
	test('the table: id, title, status, price, leader, bids, ends in', () => {
		const table = auctionTable(
			[
				lamp({ price: 1100, leader: 'bob', bidCount: 12 }),
				lamp({ id: 'vase', title: 'Vase', status: 'closed', price: 5000, leader: 'dora', winner: 'dora', bidCount: 1, endsAt: NOW - 3 * MIN }),
				lamp({ id: 'clock', title: 'Clock', status: 'closed', price: 900, leader: 'eve', winner: 'eve', bidCount: 1, endsAt: NOW + MIN }),
				lamp({ id: 'desk', title: 'Desk', status: 'scheduled', startingPrice: 500 }),
			],
			NOW,
		).split('\n')
		expect(table).toEqual([
			'ID     TITLE       STATUS     PRICE          LEADER  BIDS  ENDS IN',
			'lamp   Brass lamp  open       11.00 USD      bob       12  10m',
			'vase   Vase        closed     50.00 USD      dora       1  ended 3m ago',
			'clock  Clock       closed     9.00 USD       eve        1  ended early',
			'desk   Desk        scheduled  from 5.00 USD  –          0  10m',
		])
	})

	test('show: one screen with the last bids oldest first, extensions marked', () => {
		const a = lamp({ price: 1200, leader: 'carol', bidCount: 2, seq: 2, softCloseMs: 5 * MIN, endsAt: NOW + 12 * MIN })
		// The second bid came within the soft-close window and moved the end.
		const bids = [bid(2, { bidder: 'carol', leader: 'carol', price: 1200, amount: 1200, endsAt: NOW + 2000 + 5 * MIN }), bid(1)]
		const screen = describeAuction(a, { bids }, NOW)
		expect(screen.split('\n').slice(0, 10)).toEqual([
			'lamp "Brass lamp" · open · seller sam',
			'  price       12.00 USD, leader carol',
			'  bids        2 · next minimum 13.00',
			'  started     12:00:00 (now)',
			'  ends        12:12:00 (in 12m)',
			'  reserve     met (or none)',
			'  buy now     no',
			'  increment   1.00',
			'  soft close  5m, up to 13:10:00 (in 1h 10m)',
			'',
		])
		expect(screen).toContain('the bids, oldest first:\n  #1 ')
		expect(screen).toMatch(/#1 12:00:01\.000 bob bid 11\.00 → price 11\.00 \(leader bob\)\n/)
		expect(screen).toMatch(/#2 12:00:02\.000 carol bid 12\.00 → price 12\.00 \(leader carol\) \[extended to 12:05:02\.000\]$/)
	})

	test('show without its history still shows the auction', () => {
		const screen = describeAuction(lamp(), { unavailable: '503 UNAVAILABLE: the archive does not answer' }, NOW)
		expect(screen).toContain('no bids yet (starts at 10.00 USD)')
		expect(screen).toEndWith('bid history unavailable: 503 UNAVAILABLE: the archive does not answer')
	})
})

describe('extensions in a replay', () => {
	/** Replays events as `gavel watch --since 0` does: the end before the first one is unknown. */
	const replay = (events: GavelEvent[], start: Known) => {
		let known = start
		return events.map((e) => {
			const line = describeEvent(e, known)
			known = afterEvent(known, e)
			return line
		})
	}
	const soft = { currency: 'USD', endsAt: null, softCloseMs: 5 * MIN, maxEndsAt: NOW + 70 * MIN }

	test('a first bid that did not extend is not marked, even though a later bid moved the end', () => {
		// endsAt 12:10; bid 1 at 12:00:01 is outside the 5-minute window, bid 2 at 12:06 inside it.
		const first = bid(1)
		const second = bid(2, { at: NOW + 6 * MIN, endsAt: NOW + 11 * MIN })
		const lines = replay([first, second], soft)
		expect(lines[0]).not.toContain('extended')
		expect(lines[1]).toEndWith(`[extended to ${clockSeconds(NOW + 11 * MIN, NOW)}.000]`)
	})

	test('a first bid that extended is marked, from the soft-close rule alone', () => {
		const first = bid(1, { at: NOW + 8 * MIN, endsAt: NOW + 13 * MIN })
		const second = bid(2, { at: NOW + 8 * MIN, endsAt: NOW + 13 * MIN }) // the same millisecond: the end did not move
		const lines = replay([first, second], soft)
		expect(lines[0]).toContain('[extended to 12:13:00.000]')
		expect(lines[1]).not.toContain('extended')
	})

	test('without soft close nothing is ever marked; at the cap nothing is claimed', () => {
		expect(replay([bid(1), bid(2)], { currency: 'USD', endsAt: null, softCloseMs: 0, maxEndsAt: NOW + 70 * MIN }).join('\n')).not.toContain('extended')
		const capped = bid(1, { at: NOW + 8 * MIN, endsAt: NOW + 10 * MIN })
		expect(extendedTo(capped, { currency: 'USD', endsAt: null, softCloseMs: 5 * MIN, maxEndsAt: NOW + 10 * MIN })).toBeNull()
		// With the end before it known, the cap is no question.
		expect(extendedTo(capped, { currency: 'USD', endsAt: NOW + 9 * MIN })).toBe(NOW + 10 * MIN)
	})

	test('auction.created sets the end the next bid is judged against', () => {
		const created: GavelEvent = {
			id: 'c',
			type: 'auction.created',
			auction: 'lamp',
			seq: 0,
			at: NOW,
			title: 'Brass lamp',
			sellerId: 'sam',
			currency: 'EUR',
			startingPrice: 1000,
			increment: 100,
			buyNowPrice: null,
			softCloseMs: 0,
			startsAt: NOW,
			endsAt: NOW + 10 * MIN,
			maxEndsAt: NOW + 70 * MIN,
			reserveMet: true,
		}
		const known = afterEvent({ currency: 'USD', endsAt: null }, created)
		expect(known).toMatchObject({ currency: 'EUR', endsAt: NOW + 10 * MIN })
		expect(extendedTo(bid(1), known)).toBeNull()
	})
})
