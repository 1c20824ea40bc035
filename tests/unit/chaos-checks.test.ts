// The chaos suite's checks (bench/chaos/checks.ts) must be able to fail: each test builds a
// history with the real rules, as gavel would have written it, then breaks it the way a lost
// write, a doubled seq, a forgotten maximum, a late close or a lossy watcher would, and expects
// the matching check to say so with its numbers.
import { describe, expect, test } from 'bun:test'
import { toView, type AuctionRecord } from '../../src/domain/auction.ts'
import { applyBid, closeAuction } from '../../src/domain/rules.ts'
import { auctionCreated, type GavelEvent } from '../../src/events.ts'
import { runChecks, type CheckInput, type CheckResult } from '../../bench/chaos/checks.ts'
import type { ArchivedEvent } from '../../bench/chaos/replay.ts'
import { createBalancer, type Attempt, type AuctionPlan, type BidRecord } from '../../bench/chaos/load.ts'
import { idTag, longestGap } from '../../bench/chaos/run.ts'
import type { WatcherRecord } from '../../bench/chaos/watchers.ts'

const T = 1_800_000_000_000
const END = T + 60_000

interface Bid {
	bidder: string
	amount: number
	maxAmount?: number
	/** No answer came (a connection lost after the commit). */
	unanswered?: boolean
}

/** One auction's whole run, as gavel and the load would have recorded it. */
function history(bids: Bid[], { close = true, reservePrice = 1_500 as number | null } = {}) {
	const plan: AuctionPlan = { kind: 'ends', body: { id: 'lamp', title: 'Lamp', startingPrice: 1_000, increment: 100, endsAt: END, ...(reservePrice ? { reservePrice } : {}) } }
	let state: AuctionRecord = {
		id: 'lamp',
		title: 'Lamp',
		sellerId: 'sam',
		currency: 'USD',
		startingPrice: 1_000,
		reservePrice,
		buyNowPrice: null,
		increment: 100,
		softCloseMs: 0,
		startsAt: T,
		endsAt: END,
		maxEndsAt: END + 3_600_000,
		createdAt: T,
		price: null,
		leader: null,
		leaderMax: null,
		bidCount: 0,
		seq: 0,
		reserveMet: reservePrice === null,
		closed: false,
		winner: null,
	}
	const events: GavelEvent[] = [auctionCreated(state, crypto.randomUUID())]
	const records: BidRecord[] = []
	const attempts: Attempt[] = []
	bids.forEach((b, i) => {
		const at = T + 1_000 + i * 100
		const out = applyBid(state, b, at, { bid: crypto.randomUUID(), close: crypto.randomUUID() })
		if ('code' in out) throw new Error(`test history: bid ${i} refused (${out.code})`)
		state = out.next
		events.push(...out.events)
		const record: BidRecord = { ...b, auction: 'lamp', sentAt: at - 5, endedAt: at + 5, attempts: [], outcome: 'accepted', ambiguous: false }
		if (b.unanswered) Object.assign(record, { outcome: 'unknown', ambiguous: true, attempts: [{ at: at + 5, status: null, code: 'ECONNRESET', what: 'bid' }] })
		else {
			const attempt: Attempt = { at: at + 5, status: 201, code: '', what: 'bid' }
			Object.assign(record, { answer: { bid: out.bid, auction: toView(out.next, at + 5), leading: out.leading }, answeredAt: at + 5, attempts: [attempt] })
		}
		delete (record as Partial<Bid>).unanswered
		attempts.push(...record.attempts)
		records.push(record)
	})
	if (close) {
		const closed = closeAuction(state, END + 300, crypto.randomUUID())
		if ('code' in closed) throw new Error('test history: not closable')
		state = closed.next
		events.push(closed.event)
	}
	const archive: ArchivedEvent[] = events.map((e) => ({ id: e.id, seq: e.seq, type: e.type, payload: JSON.stringify(e), event: e }))
	const raw: WatcherRecord = {
		name: 'raw-1',
		kind: 'raw',
		url: 'ws://x/live',
		auctions: ['lamp'],
		received: new Map([['lamp', archive.slice(1).map((e) => ({ seq: e.seq, raw: e.payload, at: e.event.at }))]]),
		resets: [],
		errors: [],
		reconnects: 0,
		startedAt: T,
	}
	const input: CheckInput = {
		plans: [plan],
		creations: [{ plan, sentAt: T - 10, attempts: [], outcome: 'created', answer: toView({ ...state, price: null }, T), answeredAt: T }],
		bids: records,
		attempts,
		archive: new Map([['lamp', archive]]),
		states: new Map([['lamp', { auction: 'lamp', rev: events.length, at: END + 300, record: state, idempotency: null }]]),
		store: new Map([['lamp', { status: 200, view: toView(state, END + 5_000), at: END + 5_000 }]]),
		listed: new Set(['lamp']),
		hidden: new Map([['lamp', { leaderMax: state.leaderMax, reservePrice: state.reservePrice }]]),
		watchers: [raw],
		outages: [],
		deadLetters: 0,
		problemLogs: [],
		checkedAt: END + 5_000,
		closeSlackMs: 1_500,
	}
	return { input, archive, state }
}

const BIDS: Bid[] = [
	{ bidder: 'bob', amount: 1_000, maxAmount: 3_000 }, // leads at 1,000 (maximum 3,000 meets the reserve: price 1,500)
	{ bidder: 'carol', amount: 1_600 }, // bob's proxy answers: 1,700
	{ bidder: 'bob', amount: 1_800, maxAmount: 5_000 }, // a hidden raise: no event
	{ bidder: 'carol', amount: 4_000 }, // bob's proxy answers: 4,100
	{ bidder: 'dave', amount: 5_200 }, // dave leads at 5,200
]

const failed = (checks: CheckResult[]) => checks.filter((c) => !c.passed).map((c) => c.name)
const check = (checks: CheckResult[], name: string) => checks.find((c) => c.name === name)!

describe('chaos checks', () => {
	test('a whole, consistent history passes every check, hidden raise included', () => {
		const checks = runChecks(history(BIDS).input)
		expect(failed(checks)).toEqual([])
		expect(check(checks, 'state').numbers).toContain('1 hidden raises')
		expect(check(checks, 'closes').numbers).toContain('1 closed by a closer')
	})

	test('an answered bid missing from the archive fails answered-in-archive and seq-dense', () => {
		const { input, archive } = history(BIDS, { close: false })
		archive.pop() // dave's bid, answered 201, never reached the archive
		const checks = runChecks({ ...input, checkedAt: END - 1 })
		expect(failed(checks)).toContain('answered-in-archive')
		expect(failed(checks)).toContain('seq-dense')
		expect(check(checks, 'seq-dense').violations[0]!.message).toContain('the archive ends at seq 3, the store is at seq 4')
	})

	test('a seq handed out twice (another event on a 201’s seq) is named as such', () => {
		const { input, archive } = history(BIDS)
		const second = archive[2]!
		const other = { ...second.event, id: crypto.randomUUID() } as GavelEvent
		archive[2] = { ...second, id: other.id, payload: JSON.stringify(other), event: other }
		const v = check(runChecks(input), 'answered-in-archive').violations
		expect(v).toHaveLength(1)
		expect(v[0]!.message).toContain('the seq was handed out twice')
	})

	test('an archived price the rules do not give fails the state check at its seq', () => {
		const { input, archive } = history(BIDS)
		const e = archive[4]!.event as Extract<GavelEvent, { type: 'bid.placed' }>
		const wrong = { ...e, price: e.price + 100 }
		archive[4] = { ...archive[4]!, payload: JSON.stringify(wrong), event: wrong }
		const checks = runChecks(input)
		expect(check(checks, 'state').violations.map((v) => v.message).join('\n')).toContain(`seq 4: dave's bid 5200: archive says price ${e.price + 100} (rules: ${e.price})`)
	})

	test('a hidden maximum the store or the log forgot fails the state check', () => {
		const { input } = history(BIDS.slice(0, 3), { close: false })
		const record = input.states.get('lamp')!.record
		input.states.set('lamp', { ...input.states.get('lamp')!, record: { ...record, leaderMax: 3_000 } }) // bob's raise to 5,000 lost
		input.hidden!.set('lamp', { leaderMax: 3_000, reservePrice: 1_500 })
		const messages = check(runChecks({ ...input, checkedAt: END - 1 }), 'state').violations.map((v) => v.message)
		expect(messages).toEqual([
			"the log's state record: state record: leader's maximum 3000 (the history gives 5000)",
			"the live store's hidden fields: store: leader's maximum 3000 (the history gives 5000)",
		])
	})

	test('the next bid after a lost maximum shows in the events: the proxy answered too low', () => {
		// As if a rebuild had restored bob's first maximum (3,000) instead of his raise (5,000).
		const { input, archive } = history(BIDS.slice(0, 4))
		const e = archive[3]!.event as Extract<GavelEvent, { type: 'bid.placed' }>
		const lost = { ...e, price: 3_000, leader: 'bob' }
		archive[3] = { ...archive[3]!, payload: JSON.stringify(lost), event: lost }
		expect(check(runChecks(input), 'state').violations[0]!.message).toContain("seq 3: carol's bid 4000: archive says price 3000 (rules: 4100)")
	})

	test('a bid whose answer never came is found placed by its event, and passes', () => {
		const bids = BIDS.map((b, i) => (i === 1 ? { ...b, unanswered: true } : b))
		const checks = runChecks(history(bids).input)
		expect(failed(checks)).toEqual([])
		expect(check(checks, 'state').numbers).toContain('1 bids whose answer never came found placed')
	})

	test("a leader's raise and the next bid, both without an answer (a stalled log): the event proves the raise, and passes", () => {
		// bob's raise to 5,000 (no event) and carol's 4,000 (bob's proxy answers 4,100) both got a 503.
		const bids = BIDS.map((b, i) => (i === 2 || i === 3 ? { ...b, unanswered: true } : b))
		const checks = runChecks(history(bids).input)
		expect(failed(checks)).toEqual([])
		expect(check(checks, 'state').numbers).toContain('2 bids whose answer never came found placed')
	})

	test('closed twice, closed late, or left open past its end fails closes; an outage in between allows its length', () => {
		const twice = history(BIDS)
		const close = twice.archive.at(-1)!
		const again = { ...close.event, id: crypto.randomUUID(), seq: close.seq + 1 } as GavelEvent
		twice.archive.push({ ...close, id: again.id, seq: again.seq, payload: JSON.stringify(again), event: again })
		expect(check(runChecks(twice.input), 'closes').violations[0]!.message).toContain('closed 2 times')

		const late = history(BIDS)
		const lateClose = { ...late.archive.at(-1)!.event, at: END + 4_000 } as GavelEvent
		late.archive[late.archive.length - 1] = { ...late.archive.at(-1)!, payload: JSON.stringify(lateClose), event: lateClose }
		expect(check(runChecks(late.input), 'closes').violations[0]!.message).toBe('closed 4000 ms after its end (allowed 1500 ms: 1500 + outages in between)')
		expect(check(runChecks({ ...late.input, outages: [{ fault: 'closer', from: END - 500, to: END + 3_000 }] }), 'closes').passed).toBe(true)

		const open = history(BIDS, { close: false })
		expect(check(runChecks(open.input), 'closes').violations[0]!.message).toBe('still open 5000 ms after its end')
	})

	test('a watcher that misses, doubles or reorders events fails, naming the seqs', () => {
		const { input } = history(BIDS)
		const got = input.watchers[0]!.received.get('lamp')!
		const [one, two, three, four] = got
		input.watchers[0]!.received.set('lamp', [one!, three!, two!, two!, four!])
		const messages = check(runChecks(input), 'raw-watchers').violations.map((v) => v.message)
		expect(messages).toEqual(['raw-1 on lamp: seq 2 after seq 3', 'raw-1 on lamp: seq 2 twice', 'raw-1 on lamp: 1 of 5 events missing (5)'])
	})

	test('a reset excuses the events up to its seq, never those after it', () => {
		const { input } = history(BIDS)
		const watcher = input.watchers[0]!
		const got = watcher.received.get('lamp')!
		// Joined late with since 0, told the history before seq 2 is not kept: owed 3 on.
		watcher.received.set('lamp', got.slice(2))
		watcher.resets.push({ auction: 'lamp', seq: 2, at: T })
		expect(check(runChecks(input), 'raw-watchers').violations).toEqual([])
		watcher.received.set('lamp', got.slice(3))
		expect(check(runChecks(input), 'raw-watchers').violations.map((v) => v.message)).toEqual(['raw-1 on lamp: 1 of 5 events missing (3) after 1 reset(s), the last to seq 2'])
	})

	test('a 404, a 500, a forgotten auction or a dead letter fails its check', () => {
		const { input } = history(BIDS)
		input.attempts.push({ at: T + 50, status: 404, code: 'NOT_FOUND', what: 'bid' }, { at: T + 60, status: 500, code: 'INTERNAL', what: 'bid' })
		input.listed.clear()
		const checks = runChecks({ ...input, deadLetters: 2 })
		expect(check(checks, 'answers').violations.map((v) => v.message)).toEqual(['a bid was answered 404 NOT_FOUND', 'a bid was answered 500 INTERNAL'])
		expect(check(checks, 'auctions').violations[0]!.message).toContain('GET /auctions does not list it')
		expect(check(checks, 'log').violations[0]!.message).toBe('2 messages in the dead-letter stream')
	})
})

describe('time without accepted bids, from a fault until bids flow again', () => {
	test('the longest gap between 201s from the last one before the fault to the first one after the recovery', () => {
		// 201s every 100 ms, a fault at 1,050, nothing until 3,400, then every 100 ms again; recovered at 3,400.
		const times = [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 3400, 3500, 3600, 9000]
		expect(longestGap(times, 1_050, 3_400)).toBe(2_400)
		// A gap after the recovery is not the fault's (the window's own column shows it).
		expect(longestGap(times, 1_050, 3_500)).toBe(2_400)
	})

	test('no 201 before the fault counts from the fault; none after it, up to the end', () => {
		expect(longestGap([], 1_000, 4_000)).toBe(3_000)
		expect(longestGap([500], 1_000, 4_000)).toBe(3_500)
		expect(longestGap([1_200, 1_300], 1_000, 1_300)).toBe(200)
	})
})

describe('the load between api instances, as a load balancer would', () => {
	test('a bidder goes to its own instance; one taken out sends it to the next until it answers again', () => {
		const balancer = createBalancer(['http://127.0.0.1:1', 'http://127.0.0.1:2'])
		try {
			expect([0, 1, 2, 3].map((home) => balancer.pick(home))).toEqual(['http://127.0.0.1:1', 'http://127.0.0.1:2', 'http://127.0.0.1:1', 'http://127.0.0.1:2'])
			balancer.takeOut('http://127.0.0.1:1')
			expect([0, 1, 2, 3].map((home) => balancer.pick(home))).toEqual(['http://127.0.0.1:2', 'http://127.0.0.1:2', 'http://127.0.0.1:2', 'http://127.0.0.1:2'])
		} finally {
			balancer.stop()
		}
	})

	test('one instance is never taken out: there is nowhere else to go', () => {
		const balancer = createBalancer(['http://127.0.0.1:1'])
		balancer.takeOut('http://127.0.0.1:1')
		expect(balancer.pick(3)).toBe('http://127.0.0.1:1')
		balancer.stop()
	})

	test("a fault's name goes into auction ids as letters, digits, _ and -", () => {
		expect(idTag('archiver+closer')).toBe('archiver-closer')
		expect(idTag('redis-primary')).toBe('redis-primary')
	})
})
