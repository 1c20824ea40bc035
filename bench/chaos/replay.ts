import { toView, type AuctionRecord } from '../../src/domain/auction.ts'
import { applyBid, closeAuction, refuseEntry, type BidInput } from '../../src/domain/rules.ts'
import type { AuctionClosed, AuctionCreated, BidPlaced, GavelEvent } from '../../src/events.ts'
import type { AuctionPlan, BidRecord } from './load.ts'

/**
 * replayAuction runs one auction's archived events through the rules (src/domain/rules.ts, the
 * same pure functions the memory store uses) with the bids the load actually sent: each
 * `bid.placed` is matched to its bid (by the event id its 201 carried, or, for a bid whose
 * answer never came, by bidder and amount), applyBid must produce that very event, and each
 * `auction.closed` must be what closeAuction gives at its time. A 201 without an event (a
 * leader's hidden raise) is applied where its answer says it happened (after the seq in its
 * `auction`). The result is the state the recorded history gives, hidden maxima included.
 *
 * An answer that never came leaves a little doubt: a leader's raise without an event may or may
 * not have been placed. Such a bid is applied only where the events prove it (the next event
 * matches only with it), or where the log's state record names exactly its maximum.
 */

export interface Violation {
	/** When it happened (an event's or an answer's time), for attributing it to a fault; null: at the end. */
	at: number | null
	auction?: string
	message: string
}

export interface ArchivedEvent {
	id: string
	seq: number
	type: GavelEvent['type']
	/** The event's JSON as the archive keeps it (verbatim). */
	payload: string
	event: GavelEvent
}

export interface ReplayResult {
	/** The state the history gives; null when the history does not even start with `auction.created`. */
	state: AuctionRecord | null
	events: number
	/** Hidden raises (201 with no event) applied. */
	hidden: number
	/** Bids whose answer never came, found placed by the events. */
	unanswered: number
	violations: Violation[]
}

const inputOf = (b: BidRecord): BidInput => (b.maxAmount === undefined ? { bidder: b.bidder, amount: b.amount } : { bidder: b.bidder, amount: b.amount, maxAmount: b.maxAmount })
const bidMaxOf = (b: BidRecord) => Math.max(b.amount, b.maxAmount ?? b.amount)
/** A bid's time window: sent … last attempt ended (its commit lies inside), with a little slack for the clock's granularity. */
const SLACK_MS = 50
const couldBeAt = (b: BidRecord, at: number) => b.sentAt - SLACK_MS <= at && at <= b.endedAt + SLACK_MS

const BID_FIELDS = ['seq', 'bidder', 'amount', 'price', 'leader', 'proxy', 'endsAt', 'reserveMet'] as const
const CLOSE_FIELDS = ['seq', 'winner', 'price', 'reserveMet'] as const

/** What differs between what the rules give and what the archive holds, as "field archive≠rules". */
function differences<T extends object>(fields: readonly (keyof T)[], archived: T, expected: T): string[] {
	return fields.filter((f) => archived[f] !== expected[f]).map((f) => `${String(f)} ${JSON.stringify(archived[f])} (rules: ${JSON.stringify(expected[f])})`)
}

/** The record an `auction.created` event and the seller's hidden reserve describe. */
export function initialRecord(created: AuctionCreated, reservePrice: number | null): AuctionRecord {
	return {
		id: created.auction,
		title: created.title,
		sellerId: created.sellerId,
		currency: created.currency,
		startingPrice: created.startingPrice,
		reservePrice,
		buyNowPrice: created.buyNowPrice,
		increment: created.increment,
		softCloseMs: created.softCloseMs,
		startsAt: created.startsAt,
		endsAt: created.endsAt,
		maxEndsAt: created.maxEndsAt,
		createdAt: created.at,
		price: null,
		leader: null,
		leaderMax: null,
		bidCount: 0,
		seq: 0,
		reserveMet: created.reserveMet,
		closed: false,
		winner: null,
	}
}

export function replayAuction(plan: AuctionPlan, archived: readonly ArchivedEvent[], bids: readonly BidRecord[]): ReplayResult {
	const auction = plan.body.id
	const violations: Violation[] = []
	const fail = (at: number | null, message: string) => violations.push({ at, auction, message })
	const result: ReplayResult = { state: null, events: 0, hidden: 0, unanswered: 0, violations }
	const first = archived[0]
	if (!first || first.event.type !== 'auction.created' || first.seq !== 0) {
		fail(null, `the archive has no auction.created at seq 0 (it starts with ${first ? `${first.type} at seq ${first.seq}` : 'nothing'})`)
		return result
	}
	const created = first.event
	const settings = differences(
		['title', 'startingPrice', 'endsAt', 'buyNowPrice', 'softCloseMs'] as const,
		{ title: created.title, startingPrice: created.startingPrice, endsAt: created.endsAt, buyNowPrice: created.buyNowPrice, softCloseMs: created.softCloseMs },
		{ title: plan.body.title, startingPrice: plan.body.startingPrice, endsAt: plan.body.endsAt, buyNowPrice: plan.body.buyNowPrice ?? null, softCloseMs: plan.body.softCloseMs ?? 0 },
	)
	if (JSON.stringify(created.increment) !== JSON.stringify(plan.body.increment)) settings.push(`increment ${JSON.stringify(created.increment)} (sent ${JSON.stringify(plan.body.increment)})`)
	if (settings.length) fail(created.at, `auction.created differs from what the seller sent: ${settings.join(', ')}`)

	let state = initialRecord(created, plan.body.reservePrice ?? null)
	const byEventId = new Map<string, BidRecord>()
	const hiddenAt = new Map<number, BidRecord[]>()
	for (const b of bids) {
		if (b.outcome !== 'accepted' || !b.answer) continue
		if (b.answer.bid) byEventId.set(b.answer.bid.id, b)
		else hiddenAt.set(b.answer.auction.seq, [...(hiddenAt.get(b.answer.auction.seq) ?? []), b])
	}
	// Bids whose outcome is unclear: no answer, or a refusal after an attempt that may have placed it.
	const doubtful = bids.filter((b) => b.outcome === 'unknown' || (b.outcome === 'refused' && b.ambiguous))
	const used = new Set<BidRecord>()

	/** Compares a 201's `auction` with the state the rules reach. */
	const answerMatches = (b: BidRecord, next: AuctionRecord, leading: boolean) => {
		const view = toView(next, b.answeredAt!)
		const said = b.answer!.auction
		const diff = differences(['seq', 'price', 'leader', 'endsAt', 'reserveMet', 'bidCount'] as const, said, view)
		if (b.answer!.leading !== leading) diff.push(`leading ${b.answer!.leading} (rules: ${leading})`)
		if (diff.length) fail(b.answeredAt!, `the 201 to ${b.bidder}'s bid ${b.amount}${b.maxAmount ? ` (max ${b.maxAmount})` : ''} said ${diff.join(', ')}`)
	}

	const applyHidden = (seq: number) => {
		for (const b of hiddenAt.get(seq) ?? []) {
			const out = applyBid(state, inputOf(b), b.answeredAt!, { bid: 'hidden', close: 'hidden' })
			if ('code' in out || out.events.length > 0) {
				fail(b.answeredAt!, `a 201 with no event (${b.bidder}'s bid ${b.amount}${b.maxAmount ? ` max ${b.maxAmount}` : ''} after seq ${seq}) is ${'code' in out ? `refused by the rules (${out.code})` : 'a public bid by the rules'}`)
				continue
			}
			state = out.next
			result.hidden++
			answerMatches(b, state, out.leading)
		}
		hiddenAt.delete(seq)
	}

	/** A leader's raise whose answer never came, placed before `at`, that makes `test` pass. */
	const unansweredRaise = (at: number, test: (next: AuctionRecord) => boolean): AuctionRecord | null => {
		for (const b of doubtful) {
			if (used.has(b) || b.bidder !== state.leader || b.sentAt - SLACK_MS > at) continue
			const out = applyBid(state, inputOf(b), at, { bid: 'hidden', close: 'hidden' })
			if ('code' in out || out.events.length > 0 || !test(out.next)) continue
			used.add(b)
			result.unanswered++
			return out.next
		}
		return null
	}

	/** The rules' outcome for bid `b` at event `e`, or null when they refuse it. */
	const attempt = (from: AuctionRecord, b: BidRecord, e: BidPlaced, closeId: string) => {
		if (refuseEntry(from, b.bidder, e.at)) return null
		const out = applyBid(from, inputOf(b), e.at, { bid: e.id, close: closeId })
		return 'code' in out ? null : out
	}

	for (let k = 1; k < archived.length; k++) {
		const a = archived[k]!
		const e = a.event
		if (a.seq !== state.seq + 1) {
			fail(e.at, `the replay stops at seq ${state.seq}: the archive's next event has seq ${a.seq}`)
			break
		}
		applyHidden(state.seq)
		result.events++
		if (e.type === 'bid.placed') {
			const closeId = archived[k + 1]?.event.type === 'auction.closed' ? archived[k + 1]!.id : 'none'
			const answered = byEventId.get(e.id)
			let b = answered
			let out = b ? attempt(state, b, e, closeId) : null
			if (!b) {
				// No 201 carried this event: it is a bid whose answer never came (matched by what it produced).
				const candidates = doubtful.filter((c) => !used.has(c) && c.bidder === e.bidder && couldBeAt(c, e.at))
				const produces = (from: AuctionRecord, c: BidRecord) => {
					const trial = attempt(from, c, e, closeId)
					return trial && differences(BID_FIELDS, e, trial.bid!).length === 0 ? trial : null
				}
				for (const c of candidates) {
					out = produces(state, c)
					if (out) {
						b = c
						break
					}
				}
				// Or the leader had raised their maximum in a bid whose answer never came either (a
				// stalled log leaves both unanswered): the event is what proves that raise.
				for (const c of b ? [] : candidates) {
					const raised = unansweredRaise(e.at, (next) => produces(next, c) !== null)
					if (raised) {
						state = raised
						out = produces(state, c)
						b = c
						break
					}
				}
				if (b) {
					used.add(b)
					result.unanswered++
				}
			}
			if (!b) {
				fail(e.at, `seq ${e.seq}: bid.placed by ${e.bidder} (amount ${e.amount}, price ${e.price}) matches no bid the load sent`)
				state = { ...state, seq: e.seq, price: e.price, leader: e.leader, endsAt: e.endsAt, reserveMet: e.reserveMet, bidCount: state.bidCount + 1, leaderMax: Math.max(state.leaderMax ?? 0, e.price) }
				continue
			}
			let diff = out ? differences(BID_FIELDS, e, out.bid!) : ['the rules refuse it']
			if (diff.length) {
				// Perhaps the leader raised their maximum in a bid whose answer never came.
				const bid = b
				const raised = unansweredRaise(e.at, (next) => {
					const retry = attempt(next, bid, e, closeId)
					return retry !== null && differences(BID_FIELDS, e, retry.bid!).length === 0
				})
				if (raised) {
					state = raised
					out = attempt(state, b, e, closeId)
					diff = []
				}
			}
			if (diff.length || !out) {
				fail(e.at, `seq ${e.seq}: ${b.bidder}'s bid ${b.amount}${b.maxAmount ? ` (max ${b.maxAmount})` : ''}: archive says ${diff.join(', ')}`)
				state = { ...state, seq: e.seq, price: e.price, leader: e.leader, endsAt: e.endsAt, reserveMet: e.reserveMet, bidCount: state.bidCount + 1 }
				continue
			}
			if (answered) answerMatches(answered, out.next, out.leading)
			state = out.next
			if (out.events.length === 2) {
				// Buy now: the close is the next event, from the same commit.
				const next = archived[k + 1]
				const close = out.events[1] as AuctionClosed
				if (!next || next.event.type !== 'auction.closed') fail(e.at, `seq ${e.seq} bought it now, but the archive has no auction.closed at seq ${close.seq}`)
				else {
					const d = differences(CLOSE_FIELDS, next.event, close)
					if (next.event.at !== close.at) d.push(`at ${next.event.at} (rules: ${close.at})`)
					if (d.length) fail(e.at, `the buy-now close at seq ${close.seq} differs: ${d.join(', ')}`)
					k++
					result.events++
				}
			}
		} else if (e.type === 'auction.closed') {
			const r = closeAuction(state, e.at, e.id)
			if ('code' in r) {
				fail(e.at, r.code === 'ALREADY' ? `seq ${e.seq}: closed a second time` : `seq ${e.seq}: closed at ${e.at}, ${r.endsAt - e.at} ms before its end ${r.endsAt}`)
				state = { ...state, seq: e.seq, closed: true, winner: e.winner }
				continue
			}
			const d = differences(CLOSE_FIELDS, e, r.event)
			if (d.length) fail(e.at, `seq ${e.seq}: auction.closed says ${d.join(', ')}`)
			state = r.next
		} else {
			fail(e.at, `seq ${e.seq}: a second auction.created`)
		}
	}
	applyHidden(state.seq)
	for (const [seq, left] of hiddenAt)
		for (const b of left) fail(b.answeredAt!, `a 201 with no event (${b.bidder}'s raise to ${bidMaxOf(b)}) was answered at seq ${seq}, which the archive's history never reaches`)
	result.state = state
	return result
}

/**
 * The private fields a rebuilt store must have: the log's state record (or the store itself)
 * against the replay. A leader's maximum may also be one the replay could not place for sure (a
 * raise whose answer never came): then that bid is taken as placed.
 */
export function compareHidden(
	replay: ReplayResult,
	bids: readonly BidRecord[],
	actual: Pick<AuctionRecord, 'leaderMax' | 'reservePrice'>,
	where: string,
): string[] {
	const state = replay.state
	if (!state) return []
	const diff: string[] = []
	if (actual.reservePrice !== state.reservePrice) diff.push(`${where} reserve ${actual.reservePrice} (sent ${state.reservePrice})`)
	if (actual.leaderMax !== state.leaderMax) {
		const explained = bids.some(
			(b) => (b.outcome === 'unknown' || b.ambiguous) && b.bidder === state.leader && bidMaxOf(b) === actual.leaderMax && bidMaxOf(b) > (state.leaderMax ?? 0),
		)
		if (!explained) diff.push(`${where} leader's maximum ${actual.leaderMax} (the history gives ${state.leaderMax})`)
	}
	return diff
}
