import { eventIdOf, type EventBus } from '../../ports/event-bus.ts'
import { revOf } from '../../domain/state-record.ts'
import type { Logger } from '../../observability/log.ts'
import type { Metrics } from '../../observability/metrics.ts'

/**
 * createPublisher hands a commit to the bus: its public events (to this process's own watchers
 * at once, then to the bus) and its private state record (docs/design.md §6), which travels in
 * the message of the commit's last event (on its own only when the commit has no public event). The promise it
 * returns resolves when the bus holds all of them durably; callers that answer a client wait for
 * it (a 201 is sent only once the commit is in the log), others may let it run.
 *
 * The bus retries by itself; whatever it finally gives up on is logged and counted, and the
 * events stay in the store's event stream for crash repair. Nothing is dropped silently.
 */
export function createPublisher({
	bus,
	log,
	metrics,
	local,
}: {
	bus: EventBus
	log: Logger
	metrics: Metrics
	/** This process's own watchers, served before the bus round trip (the live role's hub). */
	local?: (auction: string, json: string) => void
}) {
	const track = (done: Promise<void>, what: Record<string, unknown>) => {
		metrics.publishesInFlight.inc()
		return done.then(
			() => void metrics.publishesInFlight.dec(),
			(err: unknown) => {
				metrics.publishesInFlight.dec()
				metrics.publishFailures.inc()
				log.error({ err, ...what }, 'not published; crash repair re-sends events from the store')
				throw err
			},
		)
	}

	const fanOut = (auction: string, json: string) => {
		// The bid is committed: a fan-out problem here must never turn its answer into an error.
		try {
			local!(auction, json)
		} catch (err) {
			log.error({ err, auction }, 'local fan-out failed; watchers get the event from the bus')
		}
	}

	return function publish(auction: string, events: readonly string[], state?: string | null): Promise<void> {
		const stored: Array<Promise<void>> = []
		const last = events.length - 1
		for (let i = 0; i <= last; i++) {
			const json = events[i]!
			if (local) fanOut(auction, json)
			const eventId = eventIdOf(json)
			// The commit's state record rides with its last event: one message in the log for both.
			const withState = i === last && state ? state : undefined
			stored.push(track(bus.publish(auction, eventId, json, withState), { auction, eventId }))
		}
		if (state && last < 0) {
			const rev = revOf(state)
			stored.push(track(bus.publishState(auction, rev, state), { auction, rev, kind: 'state' }))
		}
		const all = stored.length === 1 ? stored[0]! : Promise.all(stored).then(() => {})
		all.catch(() => {}) // logged and counted above; a caller that does not wait must not see an unhandled rejection
		return all
	}
}

export type Publish = ReturnType<typeof createPublisher>
