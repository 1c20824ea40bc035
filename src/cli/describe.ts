import type { AuctionView } from '../domain/auction.ts'
import type { GavelEvent } from '../events.ts'

/** money formats integer minor units in major units with the currency's decimals (12.50 USD, 1250 JPY). */
export function money(minor: number | null, currency: string): string {
	if (minor === null) return '–'
	const digits = fractionDigits(currency)
	return (minor / 10 ** digits).toFixed(digits)
}

const digitsByCurrency = new Map<string, number>()
function fractionDigits(currency: string): number {
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

/** What the watcher knew before this event: the currency for amounts and the end, to spot extensions. */
export interface Known {
	currency: string
	endsAt: number | null
}

/** describeEvent is one human line per event: `#7 12:00:01.123 bob bid 12.50 → price 12.50 (leader bob)`. */
export function describeEvent(event: GavelEvent, { currency, endsAt }: Known): string {
	const head = `#${event.seq} ${clock(event.at)}`
	switch (event.type) {
		case 'auction.created':
			return `${head} opened ${JSON.stringify(event.title)} by ${event.sellerId}, starting at ${money(event.startingPrice, event.currency)} ${event.currency}, ends ${clock(event.endsAt)}`
		case 'bid.placed': {
			const notes = [
				event.proxy ? 'proxy bid' : '',
				event.reserveMet ? '' : 'reserve not met',
				endsAt !== null && event.endsAt !== endsAt ? `extended to ${clock(event.endsAt)}` : '',
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
