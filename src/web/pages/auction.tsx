import { useEffect, useMemo } from 'preact/hooks'
import { useSignal, useSignalEffect } from '@preact/signals'
import type { AuctionView } from '../../domain/auction.ts'
import { minimumBid } from '../../domain/rules.ts'
import { buyNowOpen, phaseOf } from '../auction-state.ts'
import { now } from '../clock.ts'
import { Connection } from '../components/connection.tsx'
import { Countdown } from '../components/countdown.tsx'
import { SignInForm } from '../components/sign-in.tsx'
import { clockSeconds, money, withCurrency } from '../format.ts'
import { session } from '../session.ts'
import { auctionModel, type AuctionModel } from './auction-model.ts'

/** `/a/<id>`: one auction, live. */
export function AuctionPage({ id }: { id: string }) {
	const model = useMemo(() => auctionModel(id), [id])
	useEffect(() => {
		void model.start()
		return () => model.stop()
	}, [model])
	const a = model.auction.value
	useEffect(() => {
		document.title = a === null ? 'gavel' : `${a.title} · gavel`
	}, [a?.title])

	if (model.missing.value)
		return (
			<section class="empty">
				<h1>No auction “{id}”</h1>
				<p>
					It does not exist, or this gavel no longer has it. <a href="/">See the auctions</a>.
				</p>
			</section>
		)
	if (model.loadError.value !== null)
		return (
			<section class="empty">
				<h1>The auction could not be loaded</h1>
				<p role="alert">{model.loadError.value}</p>
				<p>
					<a href={location.pathname}>Try again</a>
				</p>
			</section>
		)
	if (a === null)
		return (
			<p class="loading" role="status">
				Loading…
			</p>
		)
	const phase = phaseOf(a, now.value)
	return (
		<article class="auction">
			<p class="crumbs">
				<a href="/">← All auctions</a>
			</p>
			<div class="title-row">
				<h1>{a.title}</h1>
				{phase !== 'closed' ? <Connection status={model.connection.value} /> : null}
			</div>
			<p class="meta">
				sold by {a.sellerId} · {a.currency} · <span class="id">{a.id}</span>
			</p>
			<div class="auction-grid">
				<div class="auction-main">
					<PricePanel auction={a} model={model} />
					{phase === 'closed' || phase === 'ending' ? <Result auction={a} phase={phase} /> : <BidBox auction={a} model={model} />}
					<Outcome model={model} />
				</div>
				<History model={model} currency={a.currency} />
			</div>
		</article>
	)
}

function PricePanel({ auction: a, model }: { auction: AuctionView; model: AuctionModel }) {
	const you = session.value?.sub ?? null
	const extension = model.extension.value
	// The countdown flashes for a moment when the end moves.
	const jumped = useSignal(false)
	useSignalEffect(() => {
		if (model.extension.value === null) return
		jumped.value = true
		const timer = setTimeout(() => (jumped.value = false), 2000)
		return () => clearTimeout(timer)
	})
	const leading = a.leader !== null && a.leader === you
	const closed = phaseOf(a, now.value) === 'closed'
	const who = closed
		? a.winner === null
			? 'No winner'
			: a.winner === you
				? 'You won'
				: `Won by ${a.winner}`
		: a.leader === null
			? 'No bids yet'
			: leading
				? 'You are leading'
				: `Leader: ${a.leader}`
	return (
		<section class="price-panel" aria-label="Price">
			<p class="label">{a.price === null ? 'Starting price' : closed ? 'Final price' : 'Current price'}</p>
			<p class="price" aria-live="polite" aria-atomic="true" data-testid="price">
				{money(a.price ?? a.startingPrice, a.currency)} <span class="currency">{a.currency}</span>
			</p>
			<p class={`leader${leading ? ' you' : ''}`} data-testid="leader">
				{who}
			</p>
			<ul class="facts">
				<li>
					{a.bidCount} {a.bidCount === 1 ? 'bid' : 'bids'}
				</li>
				<li>{a.reserveMet ? 'reserve met (or none)' : 'reserve not met'}</li>
				{a.softCloseMs > 0 ? <li>soft close: a bid in the last {Math.round(a.softCloseMs / 1000)} s extends the end</li> : null}
			</ul>
			<p class="when" data-testid="countdown">
				<Countdown auction={a} jumped={jumped.value} />
			</p>
			{extension !== null && !closed ? (
				<p class="extended" role="status" data-testid="extended">
					Extended to {clockSeconds(extension.to, now.peek())}
					{extension.to - extension.from >= 1000 ? ` (+${Math.round((extension.to - extension.from) / 1000)} s)` : ''}
					{extension.count > 1 ? `, ${extension.count} times` : ''}
				</p>
			) : null}
		</section>
	)
}

function Result({ auction: a, phase }: { auction: AuctionView; phase: 'ending' | 'closed' }) {
	const you = session.value?.sub ?? null
	if (phase === 'ending')
		return (
			<section class="result pending" role="status" data-testid="result">
				Bidding has ended; the result follows in a moment…
			</section>
		)
	const price = a.price === null ? '' : withCurrency(a.price, a.currency)
	const text =
		a.winner !== null
			? a.winner === you
				? `You won at ${price}.`
				: `Sold to ${a.winner} for ${price}.`
			: a.leader === null
				? 'Ended without bids.'
				: `Ended without a winner: reserve not met (highest bid ${price}).`
	return (
		<section class={`result ${a.winner !== null && a.winner === you ? 'won' : ''}`} role="status" data-testid="result">
			<h2>Closed</h2>
			<p>{text}</p>
		</section>
	)
}

function BidBox({ auction: a, model }: { auction: AuctionView; model: AuctionModel }) {
	const current = session.value
	const phase = phaseOf(a, now.value)
	const confirmBuyNow = useSignal(false)
	if (current === null)
		return (
			<section class="bid-box" aria-label="Bid">
				<h2>Sign in to bid</h2>
				<SignInForm idPrefix="bid" />
			</section>
		)
	if (current.sub === a.sellerId)
		return (
			<section class="bid-box" aria-label="Bid">
				<p>This is your auction: sellers cannot bid on their own.</p>
			</section>
		)
	const error = model.fieldError.value
	const closedToBids = phase !== 'open'
	const buyNow = a.buyNowPrice !== null && buyNowOpen(a) ? a.buyNowPrice : null
	return (
		<section class="bid-box" aria-label="Bid">
			<form
				class="bid-form"
				onSubmit={(e) => {
					e.preventDefault()
					void model.placeBid()
				}}
				noValidate
			>
				<div class="field">
					<label for="bid-amount">Your bid ({a.currency})</label>
					<input
						id="bid-amount"
						inputMode="decimal"
						autocomplete="off"
						value={model.amountText.value}
						onInput={(e) => {
							model.amountText.value = e.currentTarget.value
							model.amountTouched.value = true
						}}
						aria-describedby="bid-amount-hint"
						aria-invalid={error?.field === 'amount'}
					/>
					<p id="bid-amount-hint" class="hint">
						next minimum {withCurrency(minimumBid(a), a.currency)}
					</p>
					{error?.field === 'amount' ? (
						<p class="error" role="alert">
							{error.text}
						</p>
					) : null}
				</div>
				<div class="field">
					<label for="bid-max">Maximum, optional ({a.currency})</label>
					<input
						id="bid-max"
						inputMode="decimal"
						autocomplete="off"
						value={model.maxText.value}
						onInput={(e) => (model.maxText.value = e.currentTarget.value)}
						aria-describedby="bid-max-hint"
						aria-invalid={error?.field === 'maxAmount'}
					/>
					<p id="bid-max-hint" class="hint">
						gavel bids for you up to this, one step at a time; nobody sees it
					</p>
					{error?.field === 'maxAmount' ? (
						<p class="error" role="alert">
							{error.text}
						</p>
					) : null}
				</div>
				<button type="submit" disabled={model.busy.value || closedToBids}>
					{phase === 'scheduled' ? `Bidding opens at ${clockSeconds(a.startsAt, now.value)}` : 'Place bid'}
				</button>
			</form>
			{buyNow !== null && !closedToBids ? (
				<div class="buy-now">
					{confirmBuyNow.value ? (
						<>
							<button
								type="button"
								class="buy"
								disabled={model.busy.value}
								onClick={() => {
									confirmBuyNow.value = false
									void model.placeBid(buyNow)
								}}
							>
								Confirm: buy now for {withCurrency(buyNow, a.currency)}
							</button>
							<button type="button" class="link" onClick={() => (confirmBuyNow.value = false)}>
								cancel
							</button>
						</>
					) : (
						<button type="button" class="secondary" onClick={() => (confirmBuyNow.value = true)}>
							Buy now for {withCurrency(buyNow, a.currency)}
						</button>
					)}
				</div>
			) : null}
		</section>
	)
}

/** What happened to your own bids and your lead: stays after the close (the bid box goes). */
function Outcome({ model }: { model: AuctionModel }) {
	const outcome = model.outcome.value
	return (
		<div class="outcome-slot" aria-live="polite">
			{outcome !== null ? (
				<p class={`outcome ${outcome.tone}`} data-testid="outcome">
					{outcome.text}
				</p>
			) : null}
		</div>
	)
}

function History({ model, currency }: { model: AuctionModel; currency: string }) {
	const items = model.history.value
	return (
		<section class="history" aria-labelledby="history-title">
			<h2 id="history-title">Bids</h2>
			{model.historyNote.value !== null ? <p class="notice">{model.historyNote.value}</p> : null}
			{items.length === 0 ? <p class="hint">No bids yet.</p> : null}
			<ol class="bids" data-testid="history">
				{items.map(({ bid, extended }) => (
					<li key={bid.seq} data-seq={bid.seq} class={bid.proxy ? 'proxy' : ''}>
						<span class="seq">#{bid.seq}</span>
						<span class="who">{bid.bidder}</span>
						<time dateTime={new Date(bid.at).toISOString()}>{clockSeconds(bid.at, now.peek())}</time>
						<span class="amount">
							bid {money(bid.amount, currency)} → {money(bid.price, currency)}
							{bid.leader !== bid.bidder ? ` (${bid.leader} leads)` : ''}
						</span>
						<span class="tags">
							{bid.proxy ? <span class="tag">proxy bid</span> : null}
							{extended ? <span class="tag">extended</span> : null}
						</span>
					</li>
				))}
			</ol>
			{model.olderCursor.value !== null ? (
				<button type="button" class="secondary" onClick={() => void model.loadOlder()}>
					Show older bids
				</button>
			) : null}
		</section>
	)
}
