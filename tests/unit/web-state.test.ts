// The web page's pure parts (src/web/format.ts, src/web/auction-state.ts): amounts typed in major
// units read exactly as integer minor units, countdowns, local times, and an auction moved on by
// its events (docs/design.md §5b). The page itself runs in Chromium in tests/browser/.
import { describe, expect, test } from 'bun:test'
import type { AuctionView } from '../../src/domain/auction.ts'
import type { AuctionClosed, BidPlaced } from '../../src/events.ts'
import { left, localInputValue, parseAmount, parseLocalInput, withCurrency } from '../../src/web/format.ts'
import { applyEvent, buyNowOpen, phaseOf } from '../../src/web/auction-state.ts'

describe('amounts typed in major units', () => {
	test('read exactly as integer minor units, in the currency’s decimals', () => {
		expect(parseAmount('12.5', 'USD')).toBe(1250)
		expect(parseAmount('12,50', 'EUR')).toBe(1250)
		expect(parseAmount(' 1 200 ', 'USD')).toBe(120_000)
		expect(parseAmount('0.07', 'USD')).toBe(7)
		expect(parseAmount('19.99', 'USD')).toBe(1999) // 19.99 * 100 is 1998.9999… in floating point
		expect(parseAmount('12.', 'USD')).toBe(1200)
		expect(parseAmount('1250', 'JPY')).toBe(1250)
		expect(parseAmount('1.5', 'KWD')).toBe(1500) // three decimals
		expect(parseAmount('0', 'USD')).toBe(0) // the API says what it thinks of zero
	})

	test('what is no amount is said, in words that show one', () => {
		expect(parseAmount('ten', 'USD')).toEqual({ error: 'enter an amount in USD, like 12.50' })
		expect(parseAmount('', 'USD')).toEqual({ error: 'enter an amount in USD, like 12.50' })
		expect(parseAmount('-5', 'USD')).toEqual({ error: 'enter an amount in USD, like 12.50' })
		expect(parseAmount('1e3', 'USD')).toEqual({ error: 'enter an amount in USD, like 12.50' })
		expect(parseAmount('ten', 'JPY')).toEqual({ error: 'enter an amount in JPY, like 13' })
		expect(parseAmount('12.345', 'USD')).toEqual({ error: 'at most 2 decimals in USD' })
		expect(parseAmount('12.5', 'JPY')).toEqual({ error: 'JPY amounts have no decimals' })
		expect(parseAmount('99999999999999999999', 'USD')).toEqual({ error: 'that amount is too large' })
	})

	test('shown with the currency', () => {
		expect(withCurrency(1250, 'USD')).toBe('12.50 USD')
		expect(withCurrency(1250, 'JPY')).toBe('1250 JPY')
	})
})

describe('times', () => {
	test('a countdown in its two largest units, the second one padded', () => {
		expect(left(9 * 60_000 + 5_000)).toBe('9m 05s')
		expect(left(45_000)).toBe('45s')
		expect(left(44_001)).toBe('45s') // rounded up: it never shows 0s while time is left
		expect(left(2 * 3_600_000 + 5 * 60_000)).toBe('2h 05m')
		expect(left(0)).toBe('0s')
		expect(left(-5_000)).toBe('0s')
	})

	test('a datetime-local value is local time, to the second, both ways', () => {
		const at = new Date(2026, 0, 31, 14, 5, 9).getTime()
		expect(localInputValue(at)).toBe('2026-01-31T14:05:09')
		expect(parseLocalInput('2026-01-31T14:05:09')).toBe(at)
		expect(parseLocalInput('2026-01-31T14:05')).toBe(at - 9_000)
		expect(parseLocalInput('')).toBeNull()
		expect(parseLocalInput('tomorrow')).toBeNull()
	})
})

const base: AuctionView = {
	id: 'lamp',
	title: 'Brass lamp',
	sellerId: 'sam',
	currency: 'USD',
	startingPrice: 1000,
	increment: 100,
	buyNowPrice: null,
	softCloseMs: 0,
	startsAt: 1_000,
	maxEndsAt: 100_000,
	createdAt: 1_000,
	endsAt: 50_000,
	status: 'open',
	price: null,
	leader: null,
	bidCount: 0,
	seq: 0,
	reserveMet: true,
	winner: null,
}
const placed = (seq: number, fields: Partial<BidPlaced> = {}): BidPlaced => ({
	id: `e${seq}`,
	type: 'bid.placed',
	auction: 'lamp',
	seq,
	at: 2_000,
	bidder: 'bob',
	amount: 1000,
	price: 1000,
	leader: 'bob',
	proxy: false,
	endsAt: 50_000,
	reserveMet: true,
	...fields,
})
const closed = (seq: number, fields: Partial<AuctionClosed> = {}): AuctionClosed => ({
	id: `e${seq}`,
	type: 'auction.closed',
	auction: 'lamp',
	seq,
	at: 50_000,
	winner: 'bob',
	price: 1000,
	reserveMet: true,
	...fields,
})

describe('an auction moved on by its events', () => {
	test('a bid sets the price, the leader, the end and the count; an event already in the state changes nothing', () => {
		const after = applyEvent(base, placed(1, { price: 1100, leader: 'carol', endsAt: 60_000, reserveMet: false }))
		expect(after).toMatchObject({ seq: 1, price: 1100, leader: 'carol', bidCount: 1, endsAt: 60_000, reserveMet: false })
		expect(applyEvent(after, placed(1))).toBe(after)
		expect(applyEvent(after, closed(2, { winner: 'carol', price: 1100 }))).toMatchObject({ seq: 2, status: 'closed', winner: 'carol', price: 1100 })
	})

	test('its phase: scheduled, open, ending until the closer’s word (when someone could win), closed', () => {
		expect(phaseOf(base, 500)).toBe('scheduled')
		expect(phaseOf(base, 2_000)).toBe('open')
		const led = { ...base, price: 1000, leader: 'bob', bidCount: 1, seq: 1 }
		expect(phaseOf(led, 50_000)).toBe('ending') // the end passed; the closer has not written the winner yet
		expect(phaseOf({ ...led, status: 'closed' }, 50_500)).toBe('ending') // the status follows the clock alone
		expect(phaseOf(applyEvent(led, closed(2)), 50_500)).toBe('closed')
		expect(phaseOf({ ...base, status: 'closed' }, 50_500)).toBe('closed') // no bids: nobody can win
		expect(phaseOf({ ...led, reserveMet: false, status: 'closed' }, 50_500)).toBe('closed') // reserve not met: nobody wins
		expect(phaseOf({ ...led, status: 'closed', winner: 'bob' }, 10_000)).toBe('closed') // bought now, before the end
	})

	test('buy now applies while the reserve is unmet, or without a reserve before the first bid', () => {
		const offer = { ...base, buyNowPrice: 5000 }
		expect(buyNowOpen(offer)).toBe(true)
		expect(buyNowOpen({ ...offer, price: 1000 })).toBe(false)
		expect(buyNowOpen({ ...offer, price: 1000, reserveMet: false })).toBe(true)
		expect(buyNowOpen(base)).toBe(false)
	})
})
