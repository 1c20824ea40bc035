import type { BidStore } from '../../ports/bid-store.ts'
import type { Logger } from '../../observability/log.ts'
import type { Metrics } from '../../observability/metrics.ts'
import type { Publish } from '../events/publisher.ts'
import { backoffDelay } from '../../lib/backoff.ts'

export const DEFAULT_CLOSER_INTERVAL_MS = 200
const BATCH = 500

export interface CloserDeps {
	store: BidStore
	publish: Publish
	log: Logger
	metrics: Metrics
	intervalMs?: number
}

/**
 * createCloser ends auctions on time: every `intervalMs` it asks the store which auctions are
 * due and closes them. The store's close is atomic and re-checks the current end, so any number
 * of closers can run (each auction closes once, by whichever gets there first), and a closer
 * that was down closes everything that came due meanwhile when it starts again.
 */
export function createCloser({ store, publish, log, metrics, intervalMs = DEFAULT_CLOSER_INTERVAL_MS }: CloserDeps) {
	log = log.child({ component: 'closer' })
	let timer: ReturnType<typeof setTimeout> | null = null
	let current: Promise<void> | null = null
	let stopped = true
	let failures = 0

	async function closeDue(): Promise<number> {
		let closed = 0
		for (;;) {
			const due = await store.dueAuctions(BATCH)
			const results = await Promise.all(due.map((id) => store.closeAuction(id).then((r) => [id, r] as const)))
			for (const [id, result] of results) {
				if (result.outcome !== 'closed') continue
				closed++
				metrics.auctionsClosed.inc()
				// Not awaited: the bus retries by itself, and a slow one must not hold up other closes.
				void publish(id, [result.event], result.state)
			}
			if (due.length < BATCH) return closed
		}
	}

	function schedule(delay: number) {
		if (stopped) return
		timer = setTimeout(() => {
			current = closeDue().then(
				(closed) => {
					failures = 0
					if (closed > 0) log.debug({ closed }, 'auctions closed')
					schedule(intervalMs)
				},
				(err) => {
					log.warn({ err, attempt: failures }, 'closing due auctions failed; retrying')
					schedule(Math.max(intervalMs, backoffDelay(failures++, { baseMs: intervalMs, maxMs: 5_000 })))
				},
			)
		}, delay)
	}

	return {
		start() {
			if (!stopped) return
			stopped = false
			schedule(0)
		},
		/** Closes what is due right now (tests and tools); the loop does this by itself. */
		closeDue,
		async stop() {
			stopped = true
			if (timer) clearTimeout(timer)
			await current
		},
	}
}

export type Closer = ReturnType<typeof createCloser>
