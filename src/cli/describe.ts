import type { AuctionView } from '../domain/auction.ts'
import type { BidPlaced, GavelEvent } from '../events.ts'

/** money formats integer minor units in major units with the currency's decimals (12.50 USD, 1250 JPY). */
export function money(minor: number | null, currency: string): string {
	if (minor === null) return '–'
	const digits = fractionDigits(currency)
	return (minor / 10 ** digits).toFixed(digits)
}

const digitsByCurrency = new Map<string, number>()
/** fractionDigits is how many decimals the currency has (2 for USD, 0 for JPY; 2 for a code Intl does not know). */
export function fractionDigits(currency: string): number {
	let digits = digitsByCurrency.get(currency)
	if (digits === undefined) {
		try {
			digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2
		} catch {
			digits = 2
		}
		digitsByCurrency.set(currency, digits)
	}
	return digits
}

/** clock is local wall time with milliseconds, e.g. 12:00:01.123. */
export function clock(ms: number): string {
	const d = new Date(ms)
	const pad = (n: number, w = 2) => String(n).padStart(w, '0')
	return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
}

/** clockSeconds is local wall time to the second (12:10:00), with the date when it is not today. */
export function clockSeconds(ms: number, now: number): string {
	const d = new Date(ms)
	const time = clock(ms).slice(0, 8)
	if (d.toDateString() === new Date(now).toDateString()) return time
	const pad = (n: number) => String(n).padStart(2, '0')
	return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`
}

/** span is a length of time in its two largest units, rounded to the second: 45s, 9m 58s, 10m, 2h 5m, 3d 4h. */
export function span(ms: number): string {
	const total = Math.round(Math.abs(ms) / 1000)
	const units: Array<[string, number]> = [
		['d', 86_400],
		['h', 3_600],
		['m', 60],
		['s', 1],
	]
	const parts: string[] = []
	let rest = total
	for (const [unit, size] of units) {
		const n = Math.floor(rest / size)
		rest -= n * size
		if (n > 0 || parts.length > 0) parts.push(`${n}${unit}`)
	}
	// Two units at most; a zero second unit adds nothing (10m, not 10m 0s).
	return parts.slice(0, 2).filter((p, i) => i === 0 || !p.startsWith('0')).join(' ') || '0s'
}

/** relative is `in 9m 58s`, `3m ago` or `now`, from `now`. */
export function relative(ms: number, now: number): string {
	if (Math.abs(ms - now) < 500) return 'now'
	return ms > now ? `in ${span(ms - now)}` : `${span(now - ms)} ago`
}

/** when is a moment a person can place: `12:10:00 (in 10m)`. */
export const when = (ms: number, now: number): string => `${clockSeconds(ms, now)} (${relative(ms, now)})`

/** What a reader of an auction's events knows before the next one: the currency for amounts and the end, to spot extensions. */
export interface Known {
	currency: string
	/** The end in effect before the next event; null when unknown (a replay from a seq whose state was never seen). */
	endsAt: number | null
	/** The auction's soft-close settings, which judge a bid when the end before it is unknown. */
	softCloseMs?: number
	maxEndsAt?: number
}

/** afterEvent is what is known once `event` happened: created and bid events carry the end from then on. */
export function afterEvent(known: Known, event: GavelEvent): Known {
	if (event.type === 'auction.created')
		return { ...known, currency: event.currency, endsAt: event.endsAt, softCloseMs: event.softCloseMs, maxEndsAt: event.maxEndsAt }
	if (event.type === 'bid.placed') return { ...known, endsAt: event.endsAt }
	return known
}

/**
 * extendedTo is the new end when this bid moved it (soft close), else null. With the end before
 * the bid known it is a comparison. Unknown (a replay from seq 0: `auction.created` is never
 * replayed), the soft-close rule decides (docs/design.md §2): a bid moves the end only when it
 * lands within softCloseMs of it, and then to at + softCloseMs capped at maxEndsAt, so a bid
 * ending later than at + softCloseMs did not move it. At the cap, whether it moved cannot be
 * told, and nothing is claimed.
 */
export function extendedTo(bid: BidPlaced, known: Known): number | null {
	if (known.endsAt !== null) return bid.endsAt !== known.endsAt ? bid.endsAt : null
	const { softCloseMs = 0, maxEndsAt } = known
	const ruleApplied = softCloseMs > 0 && bid.endsAt - bid.at <= softCloseMs
	return ruleApplied && maxEndsAt !== undefined && bid.endsAt < maxEndsAt ? bid.endsAt : null
}

/** describeEvent is one human line per event: `#7 12:00:01.123 bob bid 12.50 → price 12.50 (leader bob)`. */
export function describeEvent(event: GavelEvent, known: Known): string {
	const { currency } = known
	const head = `#${event.seq} ${clock(event.at)}`
	switch (event.type) {
		case 'auction.created':
			return `${head} opened ${JSON.stringify(event.title)} by ${event.sellerId}, starting at ${money(event.startingPrice, event.currency)} ${event.currency}, ends ${clock(event.endsAt)}`
		case 'bid.placed': {
			const extended = extendedTo(event, known)
			const notes = [
				event.proxy ? 'proxy bid' : '',
				event.reserveMet ? '' : 'reserve not met',
				extended !== null ? `extended to ${clock(extended)}` : '',
			].filter(Boolean)
			return (
				`${head} ${event.bidder} bid ${money(event.amount, currency)} → price ${money(event.price, currency)} (leader ${event.leader})` +
				(notes.length ? ` [${notes.join(', ')}]` : '')
			)
		}
		case 'auction.closed':
			return event.winner
				? `${head} closed: ${event.winner} wins at ${money(event.price, currency)}`
				: `${head} closed without a winner${event.reserveMet ? '' : ' (reserve not met)'}`
	}
}

/** describeState is the line printed when the watch (re)subscribes. */
export function describeState(s: AuctionView): string {
	const price = s.price === null ? `no bids yet (starts at ${money(s.startingPrice, s.currency)})` : `price ${money(s.price, s.currency)} (leader ${s.leader})`
	return `${s.id} ${JSON.stringify(s.title)} · ${s.status} · ${price} · ${s.currency} · seq ${s.seq} · ends ${clock(s.endsAt)}`
}
