import { eventIdOf, type EventBus } from '../../ports/event-bus.ts'
import type { Logger } from '../../observability/log.ts'
import type { Metrics } from '../../observability/metrics.ts'

/**
 * createPublisher hands committed events to the bus without making the caller wait: a bid is
 * accepted at its store commit (docs/design.md §9), so the publish round trip stays off the answer.
 * The bus retries by itself; an event it finally gives up on is logged and counted, and stays
 * in the store's event stream for crash repair. Nothing is dropped silently.
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
	return function publish(auction: string, events: readonly string[]): void {
		for (const json of events) {
			if (local) {
				// The bid is committed: a fan-out problem here must never turn its answer into an error.
				try {
					local(auction, json)
				} catch (err) {
					log.error({ err, auction }, 'local fan-out failed; watchers get the event from the bus')
				}
			}
			const eventId = eventIdOf(json)
			metrics.publishesInFlight.inc()
			bus.publish(auction, eventId, json).then(
				() => metrics.publishesInFlight.dec(),
				(err) => {
					metrics.publishesInFlight.dec()
					metrics.publishFailures.inc()
					log.error({ err, auction, eventId }, 'event not published; crash repair will re-send it from the store')
				},
			)
		}
	}
}

export type Publish = ReturnType<typeof createPublisher>
