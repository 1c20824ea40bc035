import { ValidationError } from '../errors.ts'
import { storableTextProblem } from './text.ts'
import {
	DEFAULT_EXTENSION_CAP_MS,
	MAX_AMOUNT,
	MAX_AUCTION_LENGTH_MS,
	type AuctionRecord,
	type Increment,
} from './auction.ts'

/** What a seller sends to open an auction (already shape-checked by the route's model). */
export interface NewAuctionInput {
	id?: string
	title: string
	startingPrice: number
	increment: Increment
	endsAt: number
	startsAt?: number
	reservePrice?: number
	buyNowPrice?: number
	softCloseMs?: number
	maxEndsAt?: number
	currency?: string
}

const invalid = (field: string, message: string) => new ValidationError(`${field}: ${message}`, { field })

const TEN_YEARS_MS = 10 * 366 * 24 * 60 * 60 * 1000

/**
 * secondsHint explains a time that is most likely epoch seconds: as milliseconds it falls before
 * 1973 (under 1e11), yet read as seconds it is within ten years of now. Empty otherwise.
 */
export function secondsHint(time: number, now: number): string {
	const looksLikeSeconds = time < 1e11 && Math.abs(time * 1000 - now) <= TEN_YEARS_MS
	return looksLikeSeconds ? ` (${time} looks like seconds; times are epoch milliseconds)` : ''
}

/**
 * newAuction checks the rules that span fields (the model checks each field alone) and
 * returns the record both stores persist. Every refusal names the field at fault.
 */
export function newAuction(input: NewAuctionInput, sellerId: string, now: number): AuctionRecord {
	const titleProblem = storableTextProblem(input.title)
	if (titleProblem) throw invalid('title', titleProblem)
	const startsAt = input.startsAt ?? now
	const { endsAt, startingPrice } = input
	if (endsAt <= startsAt) throw invalid('endsAt', `must be after startsAt${secondsHint(endsAt, now)}`)
	if (endsAt <= now) throw invalid('endsAt', `must be in the future${secondsHint(endsAt, now)}`)
	if (endsAt - now > MAX_AUCTION_LENGTH_MS) throw invalid('endsAt', 'an auction may run for at most 366 days')
	const maxEndsAt = input.maxEndsAt ?? endsAt + DEFAULT_EXTENSION_CAP_MS
	if (maxEndsAt < endsAt) throw invalid('maxEndsAt', `must not be before endsAt${secondsHint(maxEndsAt, now)}`)
	if (typeof input.increment !== 'number') {
		const tiers = input.increment
		if (tiers[0]?.from !== 0) throw invalid('increment', 'the first tier must start at 0')
		for (let i = 1; i < tiers.length; i++)
			if (tiers[i]!.from <= tiers[i - 1]!.from) throw invalid('increment', 'tiers must be sorted by strictly increasing from')
	}
	const reservePrice = input.reservePrice ?? null
	const buyNowPrice = input.buyNowPrice ?? null
	if (reservePrice !== null && reservePrice < startingPrice)
		throw invalid('reservePrice', 'must be at least startingPrice')
	if (buyNowPrice !== null) {
		if (buyNowPrice < startingPrice) throw invalid('buyNowPrice', 'must be at least startingPrice')
		if (reservePrice !== null && buyNowPrice < reservePrice) throw invalid('buyNowPrice', 'must be at least reservePrice')
	}
	if (startingPrice > MAX_AMOUNT) throw invalid('startingPrice', `must be at most ${MAX_AMOUNT}`)
	return {
		id: input.id ?? Bun.randomUUIDv7('base64url'),
		title: input.title,
		sellerId,
		currency: input.currency ?? 'USD',
		startingPrice,
		reservePrice,
		buyNowPrice,
		increment: input.increment,
		softCloseMs: input.softCloseMs ?? 0,
		startsAt,
		endsAt,
		maxEndsAt,
		createdAt: now,
		price: null,
		leader: null,
		leaderMax: null,
		bidCount: 0,
		seq: 0,
		reserveMet: reservePrice === null,
		closed: false,
		winner: null,
	}
}
