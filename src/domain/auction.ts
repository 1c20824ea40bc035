/**
 * The auction as both stores keep it. Money is integer minor units, times are epoch ms.
 * `reservePrice` and `leaderMax` are private: they never leave a store except through
 * `toView`, which drops them.
 */

/** Largest accepted amount (10 billion in major units): keeps every sum exact in Lua doubles and JSON. */
export const MAX_AMOUNT = 1_000_000_000_000
export const MAX_SOFT_CLOSE_MS = 24 * 60 * 60 * 1000
export const DEFAULT_EXTENSION_CAP_MS = 60 * 60 * 1000
export const MAX_AUCTION_LENGTH_MS = 366 * 24 * 60 * 60 * 1000

export type Tier = { from: number; step: number }
/** A fixed step, or tiers sorted by `from` with the first at 0. */
export type Increment = number | Tier[]

export type AuctionStatus = 'scheduled' | 'open' | 'closed'

export interface AuctionRecord {
	id: string
	title: string
	sellerId: string
	currency: string
	startingPrice: number
	reservePrice: number | null
	buyNowPrice: number | null
	increment: Increment
	softCloseMs: number
	startsAt: number
	/** Current end, moved by soft-close extensions. */
	endsAt: number
	maxEndsAt: number
	createdAt: number
	price: number | null
	leader: string | null
	leaderMax: number | null
	bidCount: number
	seq: number
	reserveMet: boolean
	closed: boolean
	winner: string | null
}

/** The public face of an auction: settings and live state side by side, no secrets. */
export interface AuctionView {
	id: string
	title: string
	sellerId: string
	currency: string
	startingPrice: number
	increment: Increment
	buyNowPrice: number | null
	softCloseMs: number
	startsAt: number
	maxEndsAt: number
	createdAt: number
	// Live state after the settings: the Redis store renders the settings once, then appends these.
	endsAt: number
	status: AuctionStatus
	price: number | null
	leader: string | null
	bidCount: number
	seq: number
	reserveMet: boolean
	winner: string | null
}

/** Tiers as `[from, step]` pairs; a fixed step is one tier from 0. */
export function tiersOf(increment: Increment): Array<[number, number]> {
	return typeof increment === 'number' ? [[0, increment]] : increment.map((t) => [t.from, t.step])
}

/** stepAt is the increment for price `p`: the step of the last tier with `from ≤ p`. */
export function stepAt(increment: Increment, p: number): number {
	if (typeof increment === 'number') return increment
	let step = increment[0]!.step
	for (const tier of increment) {
		if (tier.from > p) break
		step = tier.step
	}
	return step
}

export function statusAt(a: Pick<AuctionRecord, 'startsAt' | 'endsAt' | 'closed'>, now: number): AuctionStatus {
	if (a.closed || now >= a.endsAt) return 'closed'
	return now < a.startsAt ? 'scheduled' : 'open'
}

/** The settings part of a view, in view order (the Redis store keeps it rendered). */
export function settingsOf(a: AuctionRecord) {
	return {
		id: a.id,
		title: a.title,
		sellerId: a.sellerId,
		currency: a.currency,
		startingPrice: a.startingPrice,
		increment: a.increment,
		buyNowPrice: a.buyNowPrice,
		softCloseMs: a.softCloseMs,
		startsAt: a.startsAt,
		maxEndsAt: a.maxEndsAt,
		createdAt: a.createdAt,
	}
}

export function toView(a: AuctionRecord, now: number): AuctionView {
	return {
		...settingsOf(a),
		endsAt: a.endsAt,
		status: statusAt(a, now),
		price: a.price,
		leader: a.leader,
		bidCount: a.bidCount,
		seq: a.seq,
		reserveMet: a.reserveMet,
		winner: a.winner,
	}
}
