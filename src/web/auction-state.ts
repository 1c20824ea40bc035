import type { AuctionView } from '../domain/auction.ts'
import type { GavelEvent } from '../events.ts'

/** applyEvent is the auction after one of its events (docs/design.md §3): what `bid.placed` and `auction.closed` carry. */
export function applyEvent(auction: AuctionView, event: GavelEvent): AuctionView {
	if (event.seq <= auction.seq) return auction // already in the state
	switch (event.type) {
		case 'bid.placed':
			return {
				...auction,
				seq: event.seq,
				price: event.price,
				leader: event.leader,
				bidCount: auction.bidCount + 1,
				endsAt: event.endsAt,
				reserveMet: event.reserveMet,
			}
		case 'auction.closed':
			return { ...auction, seq: event.seq, status: 'closed', winner: event.winner, price: event.price, reserveMet: event.reserveMet }
		case 'auction.created':
			return { ...auction, seq: event.seq }
	}
}

/**
 * Where an auction stands for a watcher at `now`. `ending`: its end has passed and the closer's
 * outcome is still to come (within about a second). The status alone says `closed` from the end
 * on; the result is known once the closer wrote it, or when there can be no winner anyway.
 */
export type Phase = 'scheduled' | 'open' | 'ending' | 'closed'

export function phaseOf(auction: AuctionView, now: number): Phase {
	if (auction.status === 'closed' || now >= auction.endsAt) {
		// Without a leader, or with the reserve unmet, nobody wins whoever closes it; else the winner is the closer's word.
		const settled = auction.winner !== null || auction.leader === null || !auction.reserveMet
		return settled && auction.status === 'closed' ? 'closed' : 'ending'
	}
	return now < auction.startsAt ? 'scheduled' : 'open'
}

/** Buy now is open while the reserve is unmet (with no reserve: before the first bid), docs/design.md §2 rule 6. */
export const buyNowOpen = (auction: AuctionView): boolean => auction.buyNowPrice !== null && (!auction.reserveMet || auction.price === null)
