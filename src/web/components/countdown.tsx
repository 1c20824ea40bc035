import type { AuctionView } from '../../domain/auction.ts'
import { phaseOf } from '../auction-state.ts'
import { now } from '../clock.ts'
import { clockSeconds, left } from '../format.ts'

/** Countdown: to the start, to the (current) end, or when it ended; it reads the page's one clock. */
export function Countdown({ auction, jumped = false }: { auction: AuctionView; jumped?: boolean }) {
	const t = now.value
	const phase = phaseOf(auction, t)
	const text =
		phase === 'scheduled'
			? `starts in ${left(auction.startsAt - t)}`
			: phase === 'open'
				? `ends in ${left(auction.endsAt - t)}`
				: phase === 'ending'
					? 'closing…'
					: `ended ${clockSeconds(Math.min(auction.endsAt, t), t)}`
	const at = phase === 'scheduled' ? auction.startsAt : auction.endsAt
	return (
		<span class={`countdown ${phase}${jumped ? ' jumped' : ''}`} data-ends-at={auction.endsAt}>
			<span class="countdown-text">{text}</span>
			{phase === 'scheduled' || phase === 'open' ? (
				<span class="countdown-at">
					{' '}
					(at <time dateTime={new Date(at).toISOString()}>{clockSeconds(at, t)}</time>)
				</span>
			) : null}
		</span>
	)
}
