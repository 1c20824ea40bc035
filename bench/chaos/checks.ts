import { toView, type AuctionRecord, type AuctionView } from '../../src/domain/auction.ts'
import type { StateRecord } from '../../src/domain/state-record.ts'
import type { Attempt, AuctionPlan, BidRecord, CreationRecord } from './load.ts'
import { compareHidden, replayAuction, type ArchivedEvent, type ReplayResult, type Violation } from './replay.ts'
import type { WatcherRecord } from './watchers.ts'

export type { ArchivedEvent, Violation } from './replay.ts'

/**
 * The checks of a chaos run (docs/design.md §6, "The durability promise"), as pure functions of
 * what the run recorded (every answer, every watcher frame) and what the log and the store hold
 * after the traffic. Each says what it checked with its numbers, and each violation carries
 * the time it happened so the report can name the fault it came under.
 */

/** When a fault had a component down: from the fault to its recovery (bids accepted again). */
export interface Outage {
	fault: string
	from: number
	to: number
}

/** GET /auctions/:id at the end: the status, the view when 200, and when it was read. */
export interface StoreRead {
	status: number
	view?: AuctionView
	at: number
}

export interface CheckInput {
	plans: AuctionPlan[]
	creations: CreationRecord[]
	bids: BidRecord[]
	attempts: Attempt[]
	/** The archive's events by auction, in seq order. */
	archive: Map<string, ArchivedEvent[]>
	/** The archive's newest state record by auction (`auction_states`). */
	states: Map<string, StateRecord>
	store: Map<string, StoreRead>
	/** Ids in `GET /auctions`. */
	listed: Set<string>
	/** The live store's private fields (Redis), where the run can read them; null embedded. */
	hidden: Map<string, Pick<AuctionRecord, 'leaderMax' | 'reservePrice'>> | null
	watchers: WatcherRecord[]
	outages: Outage[]
	/** Messages in the dead-letter stream (NATS), null where there is none. */
	deadLetters: number | null
	/** Log lines of gavel's that say an event was lost or refused (dead letter, seq conflict, unrepairable). */
	problemLogs: Array<{ process: string; msg: string; at: number | null }>
	checkedAt: number
	/** How late a close may be when no fault was in the way (the closer polls every 200 ms). */
	closeSlackMs: number
}

export interface CheckResult {
	name: string
	title: string
	passed: boolean
	/** What was checked, with its numbers. */
	numbers: string
	violations: Violation[]
}

const n = (x: number) => x.toLocaleString('en')
const result = (name: string, title: string, numbers: string, violations: Violation[]): CheckResult => ({ name, title, passed: violations.length === 0, numbers, violations })

export function runChecks(input: CheckInput): CheckResult[] {
	const bidsOf = new Map<string, BidRecord[]>()
	for (const b of input.bids) bidsOf.set(b.auction, [...(bidsOf.get(b.auction) ?? []), b])
	const created = input.plans.filter((p) => input.archive.has(p.body.id) || input.creations.some((c) => c.plan === p && c.outcome === 'created'))
	const replays = new Map<string, ReplayResult>()
	for (const plan of created) replays.set(plan.body.id, replayAuction(plan, input.archive.get(plan.body.id) ?? [], bidsOf.get(plan.body.id) ?? []))
	return [
		answeredInArchive(input),
		seqDense(input, created),
		stateEqualsHistory(input, created, replays, bidsOf),
		closes(input, created, replays),
		noAuctionForgotten(input),
		watchersGotEverything(input, 'raw'),
		watchersGotEverything(input, 'watch()'),
		answers(input),
		logClean(input),
	]
}

/** Every bid answered 201 has its event in the archive, once, as answered; so has every created auction. */
function answeredInArchive(input: CheckInput): CheckResult {
	const violations: Violation[] = []
	const byId = new Map<string, ArchivedEvent>()
	const bySeq = new Map<string, ArchivedEvent>()
	for (const [auction, events] of input.archive)
		for (const e of events) {
			byId.set(e.id, e)
			bySeq.set(`${auction}/${e.seq}`, e)
		}
	let answered = 0
	let found = 0
	let hidden = 0
	for (const b of input.bids) {
		if (b.outcome !== 'accepted' || !b.answer) continue
		const bid = b.answer.bid
		if (!bid) {
			hidden++
			continue
		}
		answered++
		const archived = byId.get(bid.id)
		if (!archived) {
			const other = bySeq.get(`${b.auction}/${bid.seq}`)
			violations.push({
				at: b.answeredAt!,
				auction: b.auction,
				message: `${b.bidder}'s bid ${b.amount} answered 201 as seq ${bid.seq} (event ${bid.id}) is not in the archive${other ? `; seq ${bid.seq} holds event ${other.id} (${other.event.type}${'bidder' in other.event ? ` by ${other.event.bidder}` : ''}): the seq was handed out twice` : ''}`,
			})
			continue
		}
		if (JSON.stringify(archived.event) !== JSON.stringify(bid)) {
			violations.push({ at: b.answeredAt!, auction: b.auction, message: `seq ${bid.seq}: the archive's event differs from the 201's: ${archived.payload} vs ${JSON.stringify(bid)}` })
			continue
		}
		found++
		if (b.answer.auction.status === 'closed' && b.answer.auction.seq === bid.seq + 1 && bySeq.get(`${b.auction}/${bid.seq + 1}`)?.event.type !== 'auction.closed')
			violations.push({ at: b.answeredAt!, auction: b.auction, message: `the buy-now at seq ${bid.seq} was answered closed, but the archive has no auction.closed at seq ${bid.seq + 1}` })
	}
	let creations = 0
	for (const c of input.creations) {
		if (c.outcome !== 'created' || !c.answer) continue
		creations++
		const first = input.archive.get(c.plan.body.id)?.[0]
		if (!first || first.event.type !== 'auction.created')
			violations.push({ at: c.answeredAt!, auction: c.plan.body.id, message: `auction ${c.plan.body.id} answered 201 (created) has no auction.created in the archive` })
	}
	return result(
		'answered-in-archive',
		'every 201 is in the archive, once, as answered',
		`${n(answered)} bids answered 201 with an event: ${n(found)} archived once and byte-equal; ${n(hidden)} 201s without an event (hidden raises: see state); ${n(creations)} creations answered 201`,
		violations,
	)
}

/** Per auction, the archive's seqs are 0, 1, 2, … with no gap, and end where the store's seq is. */
function seqDense(input: CheckInput, created: AuctionPlan[]): CheckResult {
	const violations: Violation[] = []
	let events = 0
	for (const plan of created) {
		const id = plan.body.id
		const archived = input.archive.get(id) ?? []
		events += archived.length
		const gap = archived.findIndex((e, i) => e.seq !== i)
		if (gap >= 0) {
			const e = archived[gap]!
			violations.push({ at: e.event.at, auction: id, message: `seq ${gap} is missing from the archive (the next archived is seq ${e.seq})` })
			continue
		}
		const last = archived.length - 1
		const read = input.store.get(id)
		if (read?.view && read.view.seq !== last)
			violations.push({ at: null, auction: id, message: `the archive ends at seq ${last}, the store is at seq ${read.view.seq}` })
	}
	return result('seq-dense', 'seqs dense per auction, the archive = the store', `${n(created.length)} auctions, ${n(events)} archived events, seq 0…n with no gap`, violations)
}

/** Each auction's state (GET, the log's state record, Redis' private fields) equals the replay of its history through the rules. */
function stateEqualsHistory(input: CheckInput, created: AuctionPlan[], replays: Map<string, ReplayResult>, bidsOf: Map<string, BidRecord[]>): CheckResult {
	const violations: Violation[] = []
	let events = 0
	let hidden = 0
	let unanswered = 0
	let compared = 0
	for (const plan of created) {
		const id = plan.body.id
		const replay = replays.get(id)!
		violations.push(...replay.violations)
		events += replay.events
		hidden += replay.hidden
		unanswered += replay.unanswered
		const state = replay.state
		if (!state) continue
		const fail = (message: string) => violations.push({ at: null, auction: id, message })
		const read = input.store.get(id)
		if (read?.view) {
			const expected = toView(state, read.at)
			const fields = ['status', 'price', 'leader', 'seq', 'endsAt', 'reserveMet', 'bidCount', 'winner'] as const
			const diff = fields.filter((f) => read.view![f] !== expected[f]).map((f) => `${f} ${JSON.stringify(read.view![f])} (history: ${JSON.stringify(expected[f])})`)
			if (diff.length) fail(`GET /auctions/${id}: ${diff.join(', ')}`)
		}
		const record = input.states.get(id)?.record
		if (!record) fail('the log has no state record of it')
		else {
			const fields = ['price', 'leader', 'seq', 'endsAt', 'reserveMet', 'bidCount', 'closed', 'winner'] as const
			const diff = fields.filter((f) => record[f] !== state[f]).map((f) => `${f} ${JSON.stringify(record[f])} (history: ${JSON.stringify(state[f])})`)
			diff.push(...compareHidden(replay, bidsOf.get(id) ?? [], record, 'state record:'))
			if (diff.length) fail(`the log's state record: ${diff.join(', ')}`)
		}
		const live = input.hidden?.get(id)
		if (input.hidden && !live) fail('the store has no private fields for it')
		else if (live) {
			const diff = compareHidden(replay, bidsOf.get(id) ?? [], live, 'store:')
			if (diff.length) fail(`the live store's hidden fields: ${diff.join(', ')}`)
		}
		compared++
	}
	return result(
		'state',
		'live state = replay of the history through the rules',
		`${n(compared)} auctions: ${n(events)} events replayed through applyBid/closeAuction (${n(hidden)} hidden raises, ${n(unanswered)} bids whose answer never came found placed); GET, the log's state records${input.hidden ? ' and Redis' : ''} compared, hidden maxima included`,
		violations,
	)
}

/** Every auction whose end passed closed once, within the recovery time of any outage in the way; none closed early or twice. */
function closes(input: CheckInput, created: AuctionPlan[], replays: Map<string, ReplayResult>): CheckResult {
	const violations: Violation[] = []
	let byCloser = 0
	let byBuyNow = 0
	let latest = 0
	let latestAllowed = 0
	let open = 0
	for (const plan of created) {
		const id = plan.body.id
		const archived = input.archive.get(id) ?? []
		const closesOf = archived.filter((e) => e.type === 'auction.closed')
		if (closesOf.length > 1) violations.push({ at: closesOf[1]!.event.at, auction: id, message: `closed ${closesOf.length} times (seqs ${closesOf.map((e) => e.seq).join(', ')})` })
		const state = replays.get(id)?.state
		if (!state) continue
		const close = closesOf[0]
		if (!close) {
			if (state.endsAt + input.closeSlackMs + overlap(input.outages, state.endsAt, input.checkedAt) < input.checkedAt)
				violations.push({ at: state.endsAt, auction: id, message: `still open ${input.checkedAt - state.endsAt} ms after its end` })
			else open++
			continue
		}
		const before = archived[close.seq - 1]?.event
		if (before?.type === 'bid.placed' && before.at === close.event.at && state.winner === before.bidder && plan.kind === 'buy-now') {
			byBuyNow++
			continue
		}
		byCloser++
		const late = close.event.at - state.endsAt
		const allowed = input.closeSlackMs + overlap(input.outages, state.endsAt, close.event.at)
		if (late > latest) {
			latest = late
			latestAllowed = allowed
		}
		if (late > allowed) violations.push({ at: state.endsAt, auction: id, message: `closed ${late} ms after its end (allowed ${allowed} ms: ${input.closeSlackMs} + outages in between)` })
	}
	return result(
		'closes',
		'each auction closed once, on time after recovery',
		`${n(byCloser)} closed by a closer and ${n(byBuyNow)} by buy-now, each once; latest close ${n(latest)} ms after its end (allowed there ${n(latestAllowed)} ms); ${n(open)} still open before their end`,
		violations,
	)
}

/** How long outages covered [from, to]: a closer cannot close what it cannot see. */
function overlap(outages: readonly Outage[], from: number, to: number): number {
	return outages.reduce((sum, o) => sum + Math.max(0, Math.min(o.to, to) - Math.max(o.from, from)), 0)
}

/** Every auction created (answered 201, or a retry found its id taken) can be read, is listed and archived. */
function noAuctionForgotten(input: CheckInput): CheckResult {
	const violations: Violation[] = []
	let created = 0
	let unknown = 0
	for (const c of input.creations) {
		const id = c.plan.body.id
		const read = input.store.get(id)
		const archived = (input.archive.get(id)?.length ?? 0) > 0
		if (c.outcome === 'unknown' && read?.status === 404 && !archived) {
			unknown++
			continue
		}
		if (c.outcome === 'failed') {
			violations.push({ at: c.attempts.at(-1)?.at ?? null, auction: id, message: `creating ${id} was refused: ${c.attempts.map((a) => a.status ?? a.code).join(', ')}` })
			continue
		}
		created++
		const problems: string[] = []
		if (read?.status !== 200) problems.push(`GET answers ${read?.status ?? 'nothing'}`)
		if (!input.listed.has(id)) problems.push('GET /auctions does not list it')
		if (!archived) problems.push('the archive does not have it')
		if (problems.length) violations.push({ at: c.answeredAt ?? c.sentAt, auction: id, message: `auction ${id} created at ${c.answeredAt ?? c.sentAt}: ${problems.join('; ')}` })
	}
	return result('auctions', 'no auction forgotten', `${n(created)} auctions created: each readable, listed and archived${unknown ? `; ${unknown} creations with no answer never took` : ''}`, violations)
}

/** Each watcher got each event of its auctions once, in seq order, as archived (across its own reconnects with `since`). */
function watchersGotEverything(input: CheckInput, kind: WatcherRecord['kind']): CheckResult {
	const violations: Violation[] = []
	const watchers = input.watchers.filter((w) => w.kind === kind)
	let streams = 0
	let events = 0
	let reconnects = 0
	let moves = 0
	let unavailable = 0
	for (const w of watchers) {
		reconnects += w.reconnects
		moves += w.moves ?? 0
		unavailable += w.errors.filter((e) => e.code === 'UNAVAILABLE').length
		for (const e of w.errors)
			if (e.code !== 'UNAVAILABLE' && e.code !== 'RATE_LIMITED')
				violations.push({ at: e.at, auction: e.auction, message: `${w.name} was told ${e.code}${e.auction ? ` for ${e.auction}, which exists` : ''}` })
		for (const auction of w.auctions) {
			streams++
			const archived = (input.archive.get(auction) ?? []).filter((e) => e.seq > 0)
			const got = w.received.get(auction) ?? []
			events += got.length
			const fail = (at: number | null, message: string) => violations.push({ at, auction, message: `${w.name} on ${auction}: ${message}` })
			const seen = new Set<number>()
			let previous = 0
			for (const g of got) {
				if (seen.has(g.seq)) fail(g.at, `seq ${g.seq} twice`)
				else if (g.seq < previous) fail(g.at, `seq ${g.seq} after seq ${previous}`)
				else {
					const a = archived[g.seq - 1]
					const same = a && (kind === 'raw' ? g.raw === a.payload : JSON.stringify(JSON.parse(g.raw)) === JSON.stringify(a.event))
					if (!same) fail(g.at, `seq ${g.seq} differs from the archive's: got ${describe(g.raw)}, the archive has ${a ? describe(a.payload) : 'nothing'}`)
				}
				seen.add(g.seq)
				previous = Math.max(previous, g.seq)
			}
			// A reset at seq N is the protocol's word that the history before N is not kept (docs/design.md
			// §5: `since` older than the kept window, as after a rebuild, which restores EVENTS_KEPT
			// events): a watcher that acted on it is owed only what came after N.
			const resets = w.resets.filter((r) => r.auction === auction)
			const resetTo = resets.reduce((n, r) => Math.max(n, r.seq), 0)
			const missing = archived.filter((e) => !seen.has(e.seq) && e.seq > resetTo)
			if (missing.length) {
				// Missed when the watcher could first have had it: an event older than the watcher is owed from its start.
				fail(Math.max(missing[0]!.event.at, w.startedAt), `${missing.length} of ${archived.length} events missing (${ranges(missing.map((e) => e.seq))})${resets.length ? ` after ${resets.length} reset(s), the last to seq ${resetTo}` : ''}`)
			}
		}
	}
	const name = kind === 'raw' ? 'raw-watchers' : 'watch-clients'
	return result(
		name,
		`${kind === 'raw' ? 'raw WebSocket watchers' : 'watch() clients'}: every event once, in order`,
		`${watchers.length} watchers, ${n(streams)} auction streams, ${n(events)} events received; ${n(reconnects)} reconnects${moves ? ` (${n(moves)} to another instance)` : ''}; ${n(unavailable)} UNAVAILABLE frames (subscribed again)`,
		violations,
	)
}

/** An event in a few words: its id, type and who or what. */
function describe(json: string): string {
	const e = JSON.parse(json) as Record<string, unknown>
	const what = e.type === 'bid.placed' ? `${e.bidder} ${e.amount} → price ${e.price}, leader ${e.leader}` : e.type === 'auction.closed' ? `winner ${e.winner}` : String(e.type)
	return `${e.type} ${e.id} (${what})`
}

/** Seqs as compact ranges: 3–7, 9. */
function ranges(seqs: number[]): string {
	const out: string[] = []
	for (let i = 0; i < seqs.length; ) {
		let j = i
		while (j + 1 < seqs.length && seqs[j + 1] === seqs[j]! + 1) j++
		out.push(i === j ? `${seqs[i]}` : `${seqs[i]}–${seqs[j]}`)
		i = j + 1
		if (out.length >= 8) {
			if (i < seqs.length) out.push('…')
			break
		}
	}
	return out.join(', ')
}

/** No answer a client must not get: a 500 (or any 5xx but the documented 503), or a 404 for an auction that exists. */
function answers(input: CheckInput): CheckResult {
	const violations: Violation[] = []
	const byStatus = new Map<string, number>()
	for (const a of input.attempts) {
		const key = a.status === null ? `no answer (${a.code})` : `${a.status} ${a.code}`.trim()
		byStatus.set(key, (byStatus.get(key) ?? 0) + 1)
		if (a.status === 404 || (a.status !== null && a.status >= 500 && a.status !== 503))
			violations.push({ at: a.at, message: `a ${a.what} was answered ${a.status} ${a.code}` })
	}
	const counts = [...byStatus].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} × ${n(v)}`)
	return result('answers', 'no 500, no 404 for an auction that exists', `${n(input.attempts.length)} answers: ${counts.join(', ')}`, violations)
}

/** Nothing dead-lettered, no seq handed out twice, nothing crash repair gave up on. */
function logClean(input: CheckInput): CheckResult {
	const violations: Violation[] = input.problemLogs.map((l) => ({ at: l.at, message: `${l.process}: ${l.msg}` }))
	if (input.deadLetters) violations.push({ at: null, message: `${input.deadLetters} messages in the dead-letter stream` })
	return result(
		'log',
		'no dead letter, seq conflict or unrepairable event',
		`${input.deadLetters === null ? 'no dead-letter stream (embedded)' : `${input.deadLetters} dead letters`}; ${input.problemLogs.length} log lines of lost or refused events`,
		violations,
	)
}
