import { batch, effect, signal } from '@preact/signals'
import type { AuctionView } from '../../domain/auction.ts'
import { minimumBid } from '../../domain/rules.ts'
import type { BidPlaced, GavelEvent } from '../../events.ts'
import { watch, type Watcher, type WatchStatus } from '../../client/watch.ts'
import { api, ApiError, newIdempotencyKey, type PlacedBid } from '../api.ts'
import { applyEvent, phaseOf } from '../auction-state.ts'
import { clockSeconds, money, parseAmount, withCurrency } from '../format.ts'
import { session, tokenRefused } from '../session.ts'

/** One bid in the history, and whether it moved the end (soft close). */
export interface HistoryItem {
	bid: BidPlaced
	extended: boolean
}

/** What happened to your own bids and your lead, said once each. */
export interface Outcome {
	tone: 'good' | 'bad' | 'info'
	text: string
}

/** A soft-close extension the page saw happen: the countdown jumps and says so. */
export interface Extension {
	from: number
	to: number
	count: number
}

const HISTORY_PAGE = 20

/**
 * auctionModel is the state behind `/a/<id>` and what changes it: the first load over HTTP (the
 * auction and the newest page of its history), then `watch()` from the newest bid the history
 * has, so that bids the archive has not written yet are replayed and none shows twice.
 */
export function auctionModel(id: string) {
	const auction = signal<AuctionView | null>(null)
	const missing = signal(false)
	const loadError = signal<string | null>(null)
	const history = signal<HistoryItem[]>([])
	const olderCursor = signal<string | null>(null)
	const historyNote = signal<string | null>(null)
	const connection = signal<WatchStatus>('connecting')
	const outcome = signal<Outcome | null>(null)
	const extension = signal<Extension | null>(null)
	const amountText = signal('')
	const maxText = signal('')
	/** The amount was typed by the bidder: the next minimum no longer overwrites it while it is enough. */
	const amountTouched = signal(false)
	const fieldError = signal<{ field: 'amount' | 'maxAmount'; text: string } | null>(null)
	const busy = signal(false)
	let watcher: Watcher | null = null
	/** The key of a bid whose answer never came, kept while the same bid is sent again (placed once at most). */
	let unanswered: { amount: number; maxAmount: number | undefined; key: string } | null = null

	const me = () => session.value?.sub ?? null

	/** A newer state replaces the old one; an end that moved later is a soft-close extension. */
	const setAuction = (next: AuctionView) => {
		const before = auction.value
		if (before !== null && next.seq < before.seq) return
		if (before !== null && next.endsAt > before.endsAt && next.seq > before.seq && phaseOf(before, Date.now()) === 'open')
			extension.value = { from: before.endsAt, to: next.endsAt, count: (extension.value?.count ?? 0) + 1 }
		auction.value = next
	}

	const addToHistory = (bid: BidPlaced, extendedHint: boolean | null) => {
		const items = history.value
		if (items.some((item) => item.bid.seq === bid.seq)) return
		const previous = items.find((item) => item.bid.seq === bid.seq - 1)
		const extended = previous !== undefined ? bid.endsAt > previous.bid.endsAt : (extendedHint ?? false)
		history.value = [...items, { bid, extended }].sort((a, b) => b.bid.seq - a.bid.seq)
	}

	/** What another bidder's bid means for you, when it concerns you. */
	const noticeFor = (before: AuctionView, event: GavelEvent) => {
		const you = me()
		if (you === null || event.type !== 'bid.placed' || event.bidder === you) return
		const price = withCurrency(event.price, before.currency)
		if (before.leader === you && event.leader !== you) outcome.value = { tone: 'bad', text: `You were outbid: ${event.leader} leads at ${price}.` }
		else if (event.leader === you && event.proxy)
			outcome.value = { tone: 'good', text: `Your maximum answered ${event.bidder}'s bid: you still lead at ${price}.` }
	}

	const onEvent = (event: GavelEvent) => {
		const before = auction.value
		batch(() => {
			if (event.type === 'bid.placed') addToHistory(event, before !== null && event.seq > before.seq ? event.endsAt > before.endsAt : null)
			if (before !== null && event.seq > before.seq) {
				noticeFor(before, event)
				setAuction(applyEvent(before, event))
			}
		})
		// The result is final: nothing more will come.
		if (event.type === 'auction.closed') watcher?.close()
	}

	async function start() {
		let view: AuctionView
		let page: { items: BidPlaced[]; nextCursor: string | null } | null
		try {
			;[view, page] = await Promise.all([api.auction(id), api.bids(id, HISTORY_PAGE).catch(() => null)])
		} catch (err) {
			// 422: an id no auction can have (the server's page for it is a 404 too).
			if (err instanceof ApiError && (err.status === 404 || err.status === 422)) missing.value = true
			else loadError.value = err instanceof Error ? err.message : String(err)
			return
		}
		batch(() => {
			auction.value = view
			if (page !== null) {
				for (const bid of page.items) addToHistory(bid, null)
				olderCursor.value = page.nextCursor
			} else historyNote.value = 'The earlier bids cannot be read right now; new ones appear as they come.'
		})
		if (phaseOf(view, Date.now()) === 'closed') {
			connection.value = 'closed'
			return
		}
		// From the newest bid the archive has: whatever it has not written yet comes as a replay.
		const since = page === null ? view.seq : (page.items[0]?.seq ?? 0)
		watcher = watch(location.origin, id, {
			since: Math.min(since, view.seq),
			onState: setAuction,
			onEvent,
			onStatus: (status) => (connection.value = status),
			onReset: () => (historyNote.value = 'Some bids from before the page lost its connection are no longer kept here; the list may miss them.'),
			onError: (err) => {
				if (err.code === 'NOT_FOUND') missing.value = true
			},
		})
	}

	async function loadOlder() {
		const cursor = olderCursor.value
		if (cursor === null) return
		try {
			const page = await api.bids(id, HISTORY_PAGE, cursor)
			batch(() => {
				for (const bid of page.items) addToHistory(bid, null)
				olderCursor.value = page.nextCursor
			})
		} catch (err) {
			historyNote.value = `Could not load older bids: ${err instanceof Error ? err.message : String(err)}`
		}
	}

	/** The bid box shows the next minimum until the bidder types an amount of their own that is enough. */
	const followMinimum = effect(() => {
		const a = auction.value
		if (a === null) return
		const minimum = minimumBid(a)
		const typed = parseAmount(amountText.peek(), a.currency)
		if (!amountTouched.peek() || typeof typed !== 'number' || typed < minimum) {
			amountText.value = money(minimum, a.currency)
			amountTouched.value = false
		}
	})

	function answered(placed: PlacedBid, sent: { amount: number; maxAmount?: number }) {
		const a = placed.auction
		const price = withCurrency(a.price ?? sent.amount, a.currency)
		if (placed.bid !== null) addToHistory(placed.bid, null)
		setAuction(a)
		if (a.status === 'closed' && a.winner === me()) outcome.value = { tone: 'good', text: `You bought it for ${price}.` }
		else if (placed.leading && placed.bid === null)
			outcome.value = {
				tone: 'good',
				text: `You still lead at ${price}; your maximum is now ${withCurrency(sent.maxAmount ?? sent.amount, a.currency)} (hidden; the price did not move).`,
			}
		else if (placed.leading)
			outcome.value = {
				tone: 'good',
				text: `You lead at ${price}${sent.maxAmount !== undefined ? `; your maximum is ${withCurrency(sent.maxAmount, a.currency)}` : ''}.`,
			}
		else
			outcome.value = {
				tone: 'bad',
				text: `Outbid by a proxy bid: price ${price}, leader ${a.leader}. Next minimum ${withCurrency(minimumBid(a), a.currency)}.`,
			}
		amountTouched.value = false
		maxText.value = ''
	}

	function refused(err: unknown, currency: string) {
		if (!(err instanceof ApiError)) {
			outcome.value = { tone: 'bad', text: String(err) }
			return
		}
		switch (err.code) {
			case 'TOO_LOW': {
				const minimum = typeof err.details.minimum === 'number' ? err.details.minimum : null
				outcome.value = { tone: 'bad', text: minimum === null ? err.message : `Too low: the minimum is ${withCurrency(minimum, currency)}.` }
				if (minimum !== null) amountText.value = money(minimum, currency)
				amountTouched.value = false
				return
			}
			case 'RATE_LIMITED':
				outcome.value = { tone: 'bad', text: `Too many bids at once: wait ${err.retryAfterSeconds ?? 1} s and try again.` }
				return
			case 'UNAUTHORIZED':
				tokenRefused(err.message)
				outcome.value = { tone: 'bad', text: 'Your sign-in was refused; sign in again to bid.' }
				return
			case 'OWN_AUCTION':
				outcome.value = { tone: 'bad', text: 'This is your auction: sellers cannot bid on their own.' }
				return
			case 'CLOSED':
				outcome.value = { tone: 'bad', text: 'The auction has ended.' }
				return
			case 'NOT_STARTED':
				outcome.value = {
					tone: 'bad',
					text: `Bidding has not opened yet${typeof err.details.startsAt === 'number' ? `: it opens at ${clockSeconds(err.details.startsAt, Date.now())}` : ''}.`,
				}
				return
			case 'VALIDATION':
				if (err.field === 'amount' || err.field === 'maxAmount') fieldError.value = { field: err.field, text: err.message }
				else outcome.value = { tone: 'bad', text: err.message }
				return
			case 'UNREACHABLE':
				outcome.value = { tone: 'bad', text: `${err.message}. Sending the same bid again cannot place it twice.` }
				return
			default:
				outcome.value = { tone: 'bad', text: err.message }
		}
	}

	/** placeBid sends the bid box (or a buy-now at `buyNow`): amounts in major units become integer minor units. */
	async function placeBid(buyNow: number | null = null) {
		const a = auction.value
		const token = session.value?.token
		if (a === null || token === undefined || busy.value) return
		fieldError.value = null
		let amount: number
		let maxAmount: number | undefined
		if (buyNow !== null) amount = buyNow
		else {
			const parsed = parseAmount(amountText.value, a.currency)
			if (typeof parsed !== 'number') return void (fieldError.value = { field: 'amount', text: parsed.error })
			amount = parsed
			if (maxText.value.trim() !== '') {
				const max = parseAmount(maxText.value, a.currency)
				if (typeof max !== 'number') return void (fieldError.value = { field: 'maxAmount', text: max.error })
				maxAmount = max
			}
		}
		const key = unanswered !== null && unanswered.amount === amount && unanswered.maxAmount === maxAmount ? unanswered.key : newIdempotencyKey()
		unanswered = null
		const sent = maxAmount === undefined ? { amount } : { amount, maxAmount }
		busy.value = true
		try {
			answered(await api.placeBid(id, sent, token, key), sent)
		} catch (err) {
			if (err instanceof ApiError && err.code === 'UNREACHABLE') unanswered = { amount, maxAmount, key }
			refused(err, a.currency)
		} finally {
			busy.value = false
		}
	}

	return {
		auction,
		missing,
		loadError,
		history,
		olderCursor,
		historyNote,
		connection,
		outcome,
		extension,
		amountText,
		maxText,
		amountTouched,
		fieldError,
		busy,
		start,
		loadOlder,
		placeBid,
		stop() {
			followMinimum()
			watcher?.close()
		},
	}
}

export type AuctionModel = ReturnType<typeof auctionModel>
