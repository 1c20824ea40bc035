import { signToken } from '../../src/auth/tokens.ts'
import { stepAt, type AuctionView, type Increment } from '../../src/domain/auction.ts'
import { minimumBid } from '../../src/domain/rules.ts'
import type { BidPlaced } from '../../src/events.ts'

/**
 * The chaos run's traffic: a steady, open-loop bid load over loopback at a fixed rate, bounded
 * in count (at most `maxInFlight` requests at once) and in time (a bid is retried for at most
 * `retryForMs`). Every answer is recorded. A bid with an Idempotency-Key is retried with the
 * SAME key after a 503 or a connection error until it gets a definite answer, as a careful
 * client does; one without a key is not retried (its outcome stays unknown). What each bid was
 * (bidder, amount, maximum) and what it got is what the checks replay the archive against.
 * With several api instances each bidder has one of them (the bidders split evenly), and a
 * request that got no answer takes that instance out until it answers /healthz again, as a load
 * balancer's health check would: the bidder's retries and next bids go to another instance.
 */

/** POST /auctions body, as the seller sends it. */
export interface AuctionBody {
	id: string
	title: string
	startingPrice: number
	increment: Increment
	endsAt: number
	softCloseMs?: number
	maxEndsAt?: number
	reservePrice?: number
	buyNowPrice?: number
}

export interface AuctionPlan {
	body: AuctionBody
	/** `ends`: ends during the run (closes are checked); `long`: still open at the end; `buy-now`: a buy-now bid closes it. */
	kind: 'long' | 'ends' | 'buy-now'
	/** When the load sends one bid at the buy-now price (buy-now auctions). */
	buyNowAt?: number
	/** Created during a fault (at `createAt`) instead of before the traffic. */
	createAt?: number
}

/** One HTTP attempt: `status` null when no answer came (refused, reset, timed out). */
export interface Attempt {
	at: number
	status: number | null
	/** The error code of a refusal, or the connection error's name; '' for a 201. */
	code: string
	what: 'bid' | 'create'
	/** The api instance asked (its base URL). */
	via?: string
}

export interface BidAnswer {
	bid: BidPlaced | null
	auction: AuctionView
	leading: boolean
}

export interface BidRecord {
	auction: string
	bidder: string
	amount: number
	maxAmount?: number
	key?: string
	sentAt: number
	/** When the last attempt ended. */
	endedAt: number
	attempts: Attempt[]
	/**
	 * accepted: a 201 (its answer is kept); refused: a definite refusal of a bid that cannot have
	 * been placed; unknown: no definite answer (connection lost without a key, retries ran out, or
	 * CLOSED after an attempt whose outcome was unknown: entry is checked before the key).
	 */
	outcome: 'pending' | 'accepted' | 'refused' | 'unknown'
	/** Some attempt could have placed it without an answer saying so (no answer, 5xx). */
	ambiguous: boolean
	answer?: BidAnswer
	answeredAt?: number
	/** The refusal's code, for a refused bid. */
	code?: string
}

export interface CreationRecord {
	plan: AuctionPlan
	sentAt: number
	attempts: Attempt[]
	outcome: 'created' | 'failed' | 'unknown'
	/** The 201 body (absent when a retry found the id taken by the first attempt). */
	answer?: AuctionView
	answeredAt?: number
}

export interface LoadOptions {
	/** The api instances; bidders are split between them. */
	apiUrls: readonly string[]
	secret: string
	/** Bids per second, open loop. */
	rate: number
	bidders?: number
	/** How long a bid with a key is retried before its outcome is left unknown. */
	retryForMs: number
	requestTimeoutMs?: number
	maxInFlight?: number
	/** Seed of the bid choices, so a run can be repeated. */
	seed: number
}

interface View {
	startingPrice: number
	increment: Increment
	seq: number
	price: number | null
	leader: string | null
	endsAt: number
	closed: boolean
	/** The highest minimum any answer named. */
	minimum: number
}

const TICK_MS = 20
/** How often an instance taken out is asked whether it is back. */
const HEALTH_PROBE_MS = 100
const SELLER = 'chaos-seller'

/** mulberry32: a small seeded PRNG (the run prints its seed). */
export function seededRandom(seed: number): () => number {
	let a = seed >>> 0
	return () => {
		a = (a + 0x6d2b79f5) >>> 0
		let t = a
		t = Math.imul(t ^ (t >>> 15), t | 1)
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296
	}
}

export type Load = Awaited<ReturnType<typeof createLoad>>

export async function createLoad(options: LoadOptions) {
	const { secret, rate, retryForMs } = options
	const instances = createBalancer(options.apiUrls)
	const requestTimeoutMs = options.requestTimeoutMs ?? 20_000
	const maxInFlight = options.maxInFlight ?? 300
	const random = seededRandom(options.seed)
	const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1))
	const names = Array.from({ length: options.bidders ?? 24 }, (_, i) => `bidder${String(i + 1).padStart(2, '0')}`)
	const homeOf = new Map([...names, SELLER].map((name, i) => [name, i % options.apiUrls.length]))
	const tokens = new Map<string, string>()
	for (const name of [...names, SELLER]) tokens.set(name, await signToken(secret, { sub: name, roles: name === SELLER ? ['seller'] : [], ttlSeconds: 6 * 3600 }))

	const records: BidRecord[] = []
	const creations: CreationRecord[] = []
	const attempts: Attempt[] = []
	const views = new Map<string, View>()
	const buyNows: AuctionPlan[] = []
	const inFlight = new Set<Promise<void>>()
	let ticker: ReturnType<typeof setInterval> | null = null
	let owed = 0
	let keys = 0
	let skipped = 0

	const track = (p: Promise<void>) => {
		inFlight.add(p)
		void p.finally(() => inFlight.delete(p))
	}

	/** One POST; never throws: no answer is `status: null` with the error's name. */
	const post = async (path: string, body: unknown, who: string, key: string | undefined, what: Attempt['what']) => {
		const headers: Record<string, string> = { authorization: `Bearer ${tokens.get(who)}`, 'content-type': 'application/json' }
		if (key) headers['idempotency-key'] = key
		let result: { status: number | null; code: string; json: unknown; retryAfter: number | null }
		const via = instances.pick(homeOf.get(who)!)
		try {
			const res = await fetch(`${via}${path}`, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(requestTimeoutMs) })
			const text = await res.text()
			let json: unknown = null
			try {
				json = JSON.parse(text)
			} catch {}
			const code = res.status === 201 ? '' : ((json as { error?: { code?: string } } | null)?.error?.code ?? `HTTP_${res.status}`)
			const retryAfter = Number(res.headers.get('retry-after'))
			result = { status: res.status, code, json, retryAfter: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null }
		} catch (err) {
			const e = err as { code?: string; name?: string }
			result = { status: null, code: e.code ?? e.name ?? 'ERROR', json: null, retryAfter: null }
			instances.takeOut(via)
		}
		const attempt: Attempt = { at: Date.now(), status: result.status, code: result.code, what, via }
		attempts.push(attempt)
		return { ...result, attempt }
	}

	/** A 503, any other 5xx, or no answer: the request may have done its work. */
	const unclear = (status: number | null) => status === null || status >= 500
	/** No connection at all: the request never reached gavel, so sending it again is safe even without a key. */
	const refusedConnection = (status: number | null, code: string) => status === null && (code === 'ECONNREFUSED' || code === 'ConnectionRefused')
	const pause = (attempt: number, retryAfter: number | null) => Bun.sleep(retryAfter !== null ? Math.min(retryAfter * 1000, 2_000) : Math.min(100 * 2 ** attempt, 1_000))

	const learn = (auction: string, answer: BidAnswer) => {
		const view = views.get(auction)
		const a = answer.auction
		if (!view || a.seq < view.seq) return
		Object.assign(view, { seq: a.seq, price: a.price, leader: a.leader, endsAt: a.endsAt, closed: a.status === 'closed' })
		view.minimum = Math.max(view.minimum, minimumBid(a))
	}

	const sendBid = async (record: BidRecord) => {
		const body = record.maxAmount === undefined ? { amount: record.amount } : { amount: record.amount, maxAmount: record.maxAmount }
		for (let n = 0; ; n++) {
			const { status, code, json, retryAfter, attempt } = await post(`/auctions/${record.auction}/bids`, body, record.bidder, record.key, 'bid')
			record.attempts.push(attempt)
			record.endedAt = attempt.at
			if (status === 201) {
				record.outcome = 'accepted'
				record.answer = json as BidAnswer
				record.answeredAt = attempt.at
				learn(record.auction, record.answer)
				return
			}
			if (unclear(status)) {
				const safe = refusedConnection(status, code)
				if (!safe) record.ambiguous = true
				// With a key a retry is safe (the same key never places twice): ask until a definite answer.
				if ((record.key || (safe && !record.ambiguous)) && Date.now() - record.sentAt < retryForMs) {
					await pause(n, retryAfter)
					continue
				}
				record.outcome = 'unknown'
				return
			}
			record.code = code
			const view = views.get(record.auction)
			if (code === 'TOO_LOW' && view) view.minimum = Math.max(view.minimum, Number((json as { error: { minimum?: number } }).error.minimum ?? 0))
			if (code === 'CLOSED' && view) view.closed = true
			// Entry (CLOSED, NOT_FOUND) is judged before the key: after an unclear attempt it says nothing.
			record.outcome = record.ambiguous && (code === 'CLOSED' || code === 'NOT_FOUND' || code === 'NOT_STARTED') ? 'unknown' : 'refused'
			return
		}
	}

	const bid = (auction: string, bidder: string, amount: number, maxAmount: number | undefined, withKey: boolean) => {
		const now = Date.now()
		const record: BidRecord = {
			auction,
			bidder,
			amount,
			...(maxAmount !== undefined ? { maxAmount } : {}),
			...(withKey ? { key: `k${++keys}` } : {}),
			sentAt: now,
			endedAt: now,
			attempts: [],
			outcome: 'pending',
			ambiguous: false,
		}
		records.push(record)
		track(sendBid(record))
	}

	/** One bid of the steady load: an open auction, a bidder who does not lead (mostly), an amount at or a few steps over the minimum. */
	const oneBid = () => {
		const now = Date.now()
		const open = [...views.entries()].filter(([, v]) => !v.closed && now < v.endsAt + 300)
		if (open.length === 0) return
		const [auction, view] = open[int(0, open.length - 1)]!
		let bidder = names[int(0, names.length - 1)]!
		if (bidder === view.leader && random() < 0.9) bidder = names[(names.indexOf(bidder) + 1) % names.length]!
		const base = view.price === null ? view.startingPrice : view.price
		const step = stepAt(view.increment, base)
		const amount = Math.max(view.minimum, base) + step * int(0, 2)
		const maxAmount = random() < 0.3 ? amount + step * int(1, 25) : undefined
		bid(auction, bidder, amount, maxAmount, maxAmount !== undefined || random() < 0.5)
	}

	const tick = () => {
		owed += (rate * TICK_MS) / 1000
		const now = Date.now()
		for (const plan of buyNows.filter((p) => p.buyNowAt! <= now)) {
			buyNows.splice(buyNows.indexOf(plan), 1)
			if (!views.get(plan.body.id)?.closed) bid(plan.body.id, names[int(0, names.length - 1)]!, plan.body.buyNowPrice!, undefined, true)
		}
		for (; owed >= 1; owed--) {
			if (inFlight.size >= maxInFlight) {
				skipped++
				continue
			}
			oneBid()
		}
	}

	const remember = (plan: AuctionPlan, view: AuctionView | undefined) => {
		const b = plan.body
		views.set(b.id, {
			startingPrice: b.startingPrice,
			increment: b.increment,
			seq: view?.seq ?? 0,
			price: view?.price ?? null,
			leader: view?.leader ?? null,
			endsAt: view?.endsAt ?? b.endsAt,
			closed: false,
			minimum: b.startingPrice,
		})
		if (plan.kind === 'buy-now') buyNows.push(plan)
	}

	/** Creates an auction, retrying an unclear answer with the same id (a 409 EXISTS then means the first attempt took). */
	const create = async (plan: AuctionPlan): Promise<CreationRecord> => {
		const record: CreationRecord = { plan, sentAt: Date.now(), attempts: [], outcome: 'unknown' }
		creations.push(record)
		let unclearBefore = false
		for (let n = 0; ; n++) {
			const { status, code, json, retryAfter, attempt } = await post('/auctions', plan.body, SELLER, undefined, 'create')
			record.attempts.push(attempt)
			if (status === 201 || (status === 409 && code === 'EXISTS' && unclearBefore)) {
				record.outcome = 'created'
				if (status === 201) {
					record.answer = json as AuctionView
					record.answeredAt = attempt.at
				}
				remember(plan, record.answer)
				return record
			}
			if (unclear(status) && Date.now() - record.sentAt < retryForMs) {
				if (!refusedConnection(status, code)) unclearBefore = true
				await pause(n, retryAfter)
				continue
			}
			// A 422 after an unclear attempt judged the body against a later clock (an end that has
			// passed meanwhile): the first attempt may still have created it, as for a bid's CLOSED.
			record.outcome = unclear(status) || (unclearBefore && status === 422) ? 'unknown' : 'failed'
			return record
		}
	}

	return {
		records,
		creations,
		attempts,
		/** Bids the generator did not send because `maxInFlight` requests were already waiting. */
		get skipped() {
			return skipped
		},
		get inFlight() {
			return inFlight.size
		},
		create,
		/** Creates an auction in the background (during a fault), tracked like a bid. */
		createLater(plan: AuctionPlan) {
			track(create(plan).then(() => {}))
		},
		start() {
			ticker ??= setInterval(tick, TICK_MS)
		},
		/** Stops new bids and waits for those still owed an answer (bounded by `retryForMs`). */
		async stop() {
			if (ticker) clearInterval(ticker)
			ticker = null
			while (inFlight.size > 0) await Promise.all([...inFlight])
			instances.stop()
		},
		/** The auctions open now and, as far as the load knows, still for `forMs` (a fault's auctions that end sooner left out). */
		openAuctions(forMs: number): string[] {
			const now = Date.now()
			return [...views].filter(([, v]) => !v.closed && v.endsAt > now + forMs).map(([id]) => id)
		},
		/** Times of the 201s to bids, in the order they came. */
		acceptedTimes: () => attempts.filter((a) => a.what === 'bid' && a.status === 201).map((a) => a.at),
	}
}

/**
 * The load's view of the api instances, as a load balancer with health checks has it: an
 * instance that did not answer a request is taken out (a SIGKILLed process refuses or resets
 * connections) and asked for /healthz every 100 ms until it answers 200, then put back.
 * With one instance there is nowhere else to go: it is always picked.
 */
export function createBalancer(urls: readonly string[]) {
	if (urls.length === 0) throw new Error('the load needs at least one api instance')
	const out = new Set<string>()
	let prober: ReturnType<typeof setInterval> | null = null
	let probing = false
	const probe = async () => {
		if (probing) return
		probing = true
		for (const url of [...out]) {
			const ok = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(500) }).then(
				(r) => r.status === 200,
				() => false,
			)
			if (ok) out.delete(url)
		}
		probing = false
		if (out.size === 0 && prober) {
			clearInterval(prober)
			prober = null
		}
	}
	return {
		/** The bidder's own instance, or the next one in service when it is out. */
		pick(home: number): string {
			for (let k = 0; k < urls.length; k++) {
				const url = urls[(home + k) % urls.length]!
				if (!out.has(url)) return url
			}
			return urls[home % urls.length]!
		},
		takeOut(url: string) {
			if (urls.length < 2 || out.has(url)) return
			out.add(url)
			prober ??= setInterval(() => void probe(), HEALTH_PROBE_MS)
		},
		stop() {
			if (prober) clearInterval(prober)
			prober = null
		},
	}
}
