import type { AuctionView, Increment } from '../domain/auction.ts'
import { minimumBid } from '../domain/rules.ts'
import type { BidPlaced } from '../events.ts'
import { afterEvent, describeEvent, money, relative, span, when, type Known } from './describe.ts'

/** The answer to `POST /auctions/:id/bids`. */
export interface Placed {
	bid: BidPlaced | null
	auction: AuctionView
	leading: boolean
}

/** increment is a fixed step (1.00) or its tiers (1.00, 5.00 from 100.00). */
export function describeIncrement(increment: Increment, currency: string): string {
	if (typeof increment === 'number') return money(increment, currency)
	return increment.map((t) => (t.from === 0 ? money(t.step, currency) : `${money(t.step, currency)} from ${money(t.from, currency)}`)).join(', ')
}

/** nextMinimum is what the next bid must at least be (docs/design.md §2), or null once the auction is closed. */
export const nextMinimum = (a: AuctionView): number | null => (a.status === 'closed' ? null : minimumBid(a))

/**
 * describeCreated is the line `auction create` prints:
 * `lamp "Brass lamp" open · starts at 10.00 USD · increment 1.00 · ends 12:10:00 (in 10m)`.
 * The reserve is not in the API's answer (bidders never see it); the seller's own is passed in.
 */
export function describeCreated(a: AuctionView, now: number, reservePrice?: number): string {
	const parts = [`${a.id} ${JSON.stringify(a.title)} ${a.status}`]
	if (a.status === 'scheduled') parts.push(`opens ${when(a.startsAt, now)}`)
	parts.push(`starts at ${money(a.startingPrice, a.currency)} ${a.currency}`, `increment ${describeIncrement(a.increment, a.currency)}`)
	if (reservePrice !== undefined) parts.push(`reserve ${money(reservePrice, a.currency)} (hidden from bidders)`)
	if (a.buyNowPrice !== null) parts.push(`buy now ${money(a.buyNowPrice, a.currency)}`)
	if (a.softCloseMs > 0) parts.push(`soft close ${span(a.softCloseMs)}`)
	parts.push(`ends ${when(a.endsAt, now)}`)
	return parts.join(' · ')
}

/**
 * describePlaced is the line `bid` prints, from the bidder's side. `maximum` is the hidden
 * ceiling this bid sent (--max, else the amount): the API never echoes a maximum back.
 */
export function describePlaced({ bid, auction: a, leading }: Placed, maximum: number): string {
	const m = (minor: number | null) => money(minor, a.currency)
	const next = nextMinimum(a)
	const tail = next === null ? [] : [`next minimum ${m(next)}`]
	if (a.status === 'closed' && a.winner !== null && a.winner === (bid?.bidder ?? a.leader))
		return `you won at ${m(a.price)} ${a.currency} (buy now) · the auction is closed`
	if (bid === null)
		// The leader raised only their maximum: no event, no new price, nobody else learns of it.
		return `you still lead at ${m(a.price)} ${a.currency} · your maximum is now ${m(maximum)} (hidden; the price did not move)`
	const reserve = a.reserveMet ? [] : ['reserve not met yet']
	if (leading) {
		const ceiling = maximum > (a.price ?? 0) ? [`your maximum is now ${m(maximum)}`] : []
		return [`${a.leader} leads at ${m(a.price)} ${a.currency}`, ...ceiling, ...reserve, ...tail].join(' · ')
	}
	return [`outbid by a proxy bid: price ${m(a.price)} ${a.currency}, leader ${a.leader}`, ...reserve, ...tail].join(' · ')
}

/** describeEnd is `9m 58s` while it runs and `ended 3m ago` after; a buy-now ends it before its time. */
function describeEnd(a: AuctionView, now: number): string {
	if (a.status !== 'closed') return span(a.endsAt - now)
	return a.endsAt <= now ? `ended ${relative(a.endsAt, now)}` : 'ended early'
}

/** auctionTable is `auction list`'s table: id, title, status, price, leader, bids, ends in. */
export function auctionTable(items: readonly AuctionView[], now: number): string {
	const header = ['ID', 'TITLE', 'STATUS', 'PRICE', 'LEADER', 'BIDS', 'ENDS IN']
	const body = items.map((a) => [
		a.id,
		a.title.length > 30 ? `${a.title.slice(0, 29)}…` : a.title,
		a.status,
		a.price === null ? `from ${money(a.startingPrice, a.currency)} ${a.currency}` : `${money(a.price, a.currency)} ${a.currency}`,
		a.leader ?? '–',
		String(a.bidCount),
		describeEnd(a, now),
	])
	const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)))
	// The bid count is a number: right-aligned; the last column needs no padding.
	const line = (row: string[]) =>
		row
			.map((cell, i) => (i === 5 ? cell.padStart(widths[i]!) : i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
			.join('  ')
	return [line(header), ...body.map(line)].join('\n')
}

/** describeAuction is `auction show`: the auction on one screen and its last bids, oldest first. */
export function describeAuction(a: AuctionView, history: { bids: readonly BidPlaced[] } | { unavailable: string }, now: number): string {
	const m = (minor: number | null) => money(minor, a.currency)
	const next = nextMinimum(a)
	let price: string
	if (a.price === null) price = `no bids yet (starts at ${m(a.startingPrice)} ${a.currency})`
	else if (a.status === 'closed') price = a.winner ? `${m(a.price)} ${a.currency}, won by ${a.winner}` : `${m(a.price)} ${a.currency}, no winner`
	else price = `${m(a.price)} ${a.currency}, leader ${a.leader}`
	const rows: Array<[string, string]> = [
		['price', price],
		['bids', `${a.bidCount}${next === null ? '' : ` · next minimum ${m(next)}`}`],
		a.status === 'scheduled' ? ['opens', when(a.startsAt, now)] : ['started', when(a.startsAt, now)],
		a.status !== 'closed'
			? ['ends', when(a.endsAt, now)]
			: ['ended', a.endsAt <= now ? when(a.endsAt, now) : `early, at the buy-now price (it was to end ${when(a.endsAt, now)})`],
		['reserve', a.reserveMet ? 'met (or none)' : 'not met'],
		['buy now', a.buyNowPrice === null ? 'no' : m(a.buyNowPrice)],
		['increment', describeIncrement(a.increment, a.currency)],
		['soft close', a.softCloseMs > 0 ? `${span(a.softCloseMs)}, up to ${when(a.maxEndsAt, now)}` : 'no'],
	]
	const width = Math.max(...rows.map(([k]) => k.length))
	const lines = [`${a.id} ${JSON.stringify(a.title)} · ${a.status} · seller ${a.sellerId}`, ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)]
	if ('unavailable' in history) lines.push('', `bid history unavailable: ${history.unavailable}`)
	else if (history.bids.length > 0) {
		const oldestFirst = [...history.bids].sort((x, y) => x.seq - y.seq)
		const which = oldestFirst.length < a.bidCount ? `the last ${oldestFirst.length} of ${a.bidCount} bids` : a.bidCount === 1 ? 'the bid' : 'the bids'
		lines.push('', `${which}, oldest first:`)
		let known: Known = { currency: a.currency, endsAt: null, softCloseMs: a.softCloseMs, maxEndsAt: a.maxEndsAt }
		for (const bid of oldestFirst) {
			lines.push(`  ${describeEvent(bid, known)}`)
			known = afterEvent(known, bid)
		}
	}
	return lines.join('\n')
}
