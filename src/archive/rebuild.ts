import type { Logger } from '../observability/log.ts'
import type { Metrics } from '../observability/metrics.ts'
import type { Archive } from '../ports/archive.ts'
import type { BidStore } from '../ports/bid-store.ts'

export interface RebuilderOptions {
	store: BidStore
	archive: Pick<Archive, 'restorables'>
	log: Logger
	/** Each rebuild counted by result, and a gauge while one runs: a lost store is worth an alarm. */
	metrics: Pick<Metrics, 'storeRebuilds' | 'storeRebuilding'>
	eventsKept: number
	idempotencyTtlMs: number
	/** Closed auctions are restored too when they closed this recently (their retries, their reads). */
	closedKeptMs: number
	/**
	 * Resolves once the archive holds what the log had when it was called (NATS: the archivers'
	 * consumer has nothing pending), so a rebuild never restores a state older than the log's.
	 * Absent where the archive is the log (the embedded stack).
	 */
	drained?: () => Promise<void>
	/** How often a running gavel checks that its store still has its epoch. */
	checkEveryMs?: number
	now?: () => number
}

export interface RebuildResult {
	restored: number
	kept: number
	ms: number
}

const PAGE = 500
const DEFAULT_CHECK_EVERY_MS = 1_000

/**
 * createRebuilder keeps the store a cache of the log (docs/design.md §6). The store carries an
 * epoch that only a finished rebuild writes; a store without one (a Redis restarted empty or
 * flushed, the memory store of a gavel that just started) is rebuilt from the archive: every
 * auction not closed, and those closed lately, with its newest state (hidden maxima included),
 * its recent events and the idempotency answers in force. Restores are idempotent and never go
 * back in time (the store keeps a newer rev), so several gavels noticing together is harmless.
 *
 * While a rebuild runs, `lost()` is true: an auction the store does not know yet is answered
 * 503 with Retry-After, never 404.
 */
export function createRebuilder(options: RebuilderOptions) {
	const { store, archive, eventsKept, idempotencyTtlMs, closedKeptMs } = options
	const log = options.log.child({ component: 'rebuild' })
	const now = options.now ?? Date.now
	let running: Promise<RebuildResult> | null = null
	let timer: ReturnType<typeof setInterval> | null = null

	async function rebuild(): Promise<RebuildResult> {
		options.metrics.storeRebuilding.set(1)
		try {
			const result = await restoreAll()
			options.metrics.storeRebuilds.labels('rebuilt').inc()
			return result
		} catch (err) {
			options.metrics.storeRebuilds.labels('failed').inc()
			throw err
		} finally {
			options.metrics.storeRebuilding.set(0)
		}
	}

	async function restoreAll(): Promise<RebuildResult> {
		const started = performance.now()
		if (options.drained) {
			log.info('store has no epoch: waiting for the archive to hold everything the log has, then rebuilding')
			await options.drained()
		}
		const t = now()
		let after = ''
		let restored = 0
		let kept = 0
		let lastLog = performance.now()
		for (;;) {
			const page = await archive.restorables({ after, limit: PAGE, eventsKept, answersSince: t - idempotencyTtlMs, closedSince: t - closedKeptMs })
			// A page's auctions are independent: restored together (Redis pipelines the scripts).
			for (const outcome of await Promise.all(page.map((auction) => store.restore(auction)))) {
				if (outcome === 'restored') restored++
				else kept++
			}
			if (page.length < PAGE) break
			after = page[page.length - 1]!.state.auction
			if (performance.now() - lastLog > 2_000) {
				lastLog = performance.now()
				log.info({ restored, kept }, 'rebuilding the store from the archive')
			}
		}
		await store.setEpoch(`${t}-${crypto.randomUUID()}`)
		const result = { restored, kept, ms: Math.round(performance.now() - started) }
		log.info(result, 'store rebuilt from the archive')
		return result
	}

	/** Runs one rebuild at a time in this process; callers share it. */
	const run = () => {
		running ??= rebuild().finally(() => {
			running = null
		})
		return running
	}

	return {
		/** Rebuilds when the store has no epoch; resolves when it has one (at start, before serving). */
		async ensure(): Promise<RebuildResult | null> {
			if (running) return running
			if ((await store.epoch()) !== null) return null
			return run()
		},
		/** Whether the store may be missing auctions right now: a rebuild runs, or one is due. */
		async lost(): Promise<boolean> {
			if (running) return true
			const lostNow = (await store.epoch().catch(() => 'unknown')) === null
			if (lostNow) void run().catch((err: unknown) => log.error({ err }, 'rebuild failed; trying again'))
			return lostNow
		},
		rebuilding: () => running !== null,
		/** Checks the epoch every second, so a store lost while running is rebuilt within about that. */
		start() {
			timer ??= setInterval(() => {
				if (running) return
				void store
					.epoch()
					.then((epoch) => (epoch === null ? run() : null))
					.catch((err: unknown) => log.warn({ err }, 'store epoch check or rebuild failed; trying again'))
			}, options.checkEveryMs ?? DEFAULT_CHECK_EVERY_MS)
		},
		async stop() {
			if (timer) clearInterval(timer)
			timer = null
			await running?.catch(() => {})
		},
	}
}

export type Rebuilder = ReturnType<typeof createRebuilder>
