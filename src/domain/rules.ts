import type { AuctionClosed, BidPlaced } from '../events.ts'
import { stepAt, type AuctionRecord } from './auction.ts'

/**
 * The bid rules of docs/design.md §2 as one pure function, used by the memory store. The Redis store
 * runs the same rules in `adapters/redis/place-bid.lua`; the contract suite (one table, both
 * adapters, plus a differential run) keeps the two equal. Change both or neither.
 */

export interface BidInput {
	bidder: string
	amount: number
	/** Hidden ceiling for proxy bidding; never shown to anyone. */
	maxAmount?: number
}

export type Refusal =
	| { code: 'NOT_STARTED'; startsAt: number }
	| { code: 'CLOSED' }
	| { code: 'OWN_AUCTION' }
	| { code: 'TOO_LOW'; minimum: number }

export interface BidOutcome {
	next: AuctionRecord
	/** The public events in order: none (a leader raised only their maximum), a bid, or a bid and the close. */
	events: Array<BidPlaced | AuctionClosed>
	bid: BidPlaced | null
	leading: boolean
}

/** refuseEntry is rule 1: whether the auction takes bids from this bidder at all right now. */
export function refuseEntry(a: AuctionRecord, bidder: string, now: number): Refusal | null {
	if (now < a.startsAt) return { code: 'NOT_STARTED', startsAt: a.startsAt }
	if (a.closed || now >= a.endsAt) return { code: 'CLOSED' }
	if (bidder === a.sellerId) return { code: 'OWN_AUCTION' }
	return null
}

export function minimumBid(a: Pick<AuctionRecord, 'price' | 'startingPrice' | 'increment'>): number {
	return a.price === null ? a.startingPrice : a.price + stepAt(a.increment, a.price)
}

/**
 * applyBid is rules 3–8 for a bid that passed entry and idempotency. It never mutates `a`.
 * `ids` are the event ids to use (the second only when buy-now closes the auction).
 */
export function applyBid(
	a: AuctionRecord,
	input: BidInput,
	now: number,
	ids: { bid: string; close: string },
): BidOutcome | Refusal {
	const { bidder, amount } = input
	const minimum = minimumBid(a)
	if (amount < minimum) return { code: 'TOO_LOW', minimum }
	const bidMax = Math.max(amount, input.maxAmount ?? amount)
	const next: AuctionRecord = { ...a }
	let proxy = false
	let leading = true
	let eventAmount = amount

	// Rule 6, judged on the state before this bid: buy-now is open while the reserve is unmet
	// (with no reserve: until the first bid).
	const buyNowOpen = a.buyNowPrice !== null && (a.reservePrice !== null ? !a.reserveMet : a.price === null)
	if (buyNowOpen && amount >= a.buyNowPrice!) {
		Object.assign(next, { price: a.buyNowPrice, leader: bidder, leaderMax: bidMax, reserveMet: true, closed: true, winner: bidder })
	} else if (a.leader === null) {
		Object.assign(next, { price: amount, leader: bidder, leaderMax: bidMax })
	} else if (a.leader === bidder) {
		next.leaderMax = Math.max(a.leaderMax!, bidMax) // raises the hidden ceiling only
	} else if (bidMax > a.leaderMax!) {
		const leaderMax = a.leaderMax!
		Object.assign(next, {
			price: Math.max(amount, Math.min(bidMax, leaderMax + stepAt(a.increment, leaderMax))),
			leader: bidder,
			leaderMax: bidMax,
		})
	} else {
		// The leader's proxy answers; equal maxima keep the earlier bidder in front.
		next.price = Math.min(a.leaderMax!, bidMax + stepAt(a.increment, bidMax))
		proxy = true
		leading = false
	}

	// Rule 5: the reserve lifts the price as soon as the leader's maximum reaches it.
	if (!next.reserveMet && a.reservePrice !== null && next.leaderMax! >= a.reservePrice) {
		next.price = Math.max(next.price!, a.reservePrice)
		next.reserveMet = true
	}

	const selfRaise = a.leader === bidder && !next.closed
	if (selfRaise) {
		if (next.price === a.price) return { next, events: [], bid: null, leading: true }
		eventAmount = next.price! // the reserve moved the price: show the price, never the maximum
	}

	// Rule 7: soft close extends only on public bids, so a hidden raise reveals nothing.
	if (!next.closed && a.softCloseMs > 0 && a.endsAt - now <= a.softCloseMs)
		next.endsAt = Math.min(now + a.softCloseMs, a.maxEndsAt)

	next.seq = a.seq + 1
	next.bidCount = a.bidCount + 1
	const bid: BidPlaced = {
		id: ids.bid,
		type: 'bid.placed',
		auction: a.id,
		seq: next.seq,
		at: now,
		bidder,
		amount: eventAmount,
		price: next.price!,
		leader: next.leader!,
		proxy,
		endsAt: next.endsAt,
		reserveMet: next.reserveMet,
	}
	if (!next.closed) return { next, events: [bid], bid, leading }
	next.seq += 1
	const closed: AuctionClosed = {
		id: ids.close,
		type: 'auction.closed',
		auction: a.id,
		seq: next.seq,
		at: now,
		winner: next.winner,
		price: next.price,
		reserveMet: next.reserveMet,
	}
	return { next, events: [bid, closed], bid, leading }
}

/**
 * closeAuction ends an auction whose current `endsAt` has passed: the winner is the leader,
 * or nobody without a bid or with the reserve unmet. Mirrors `adapters/redis/close-auction.lua`.
 */
export function closeAuction(
	a: AuctionRecord,
	now: number,
	eventId: string,
): { next: AuctionRecord; event: AuctionClosed } | { code: 'ALREADY' } | { code: 'NOT_DUE'; endsAt: number } {
	if (a.closed) return { code: 'ALREADY' }
	if (now < a.endsAt) return { code: 'NOT_DUE', endsAt: a.endsAt }
	const winner = a.leader !== null && a.reserveMet ? a.leader : null
	const next: AuctionRecord = { ...a, closed: true, winner, seq: a.seq + 1 }
	const event: AuctionClosed = {
		id: eventId,
		type: 'auction.closed',
		auction: a.id,
		seq: next.seq,
		at: now,
		winner,
		price: a.price,
		reserveMet: a.reserveMet,
	}
	return { next, event }
}
