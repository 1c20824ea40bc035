import { expect, test } from 'bun:test'
import { createLocalEventBus } from '../../src/adapters/local/event-bus.ts'
import { createPublisher } from '../../src/modules/events/publisher.ts'
import { createMetrics } from '../../src/observability/metrics.ts'
import { silentLogger } from '../../src/observability/log.ts'
import { newEventId } from '../../src/events.ts'
import { payloadText } from '../../src/ports/event-bus.ts'
import { eventually } from '../helpers/wait.ts'

const event = (seq: number) => JSON.stringify({ id: newEventId(), type: 'bid.placed', auction: 'a1', seq })

test('events go to local watchers first, then to the bus, in order', async () => {
	const bus = createLocalEventBus()
	const seen: string[] = []
	bus.subscribe('a1', (p) => seen.push(`bus ${JSON.parse(payloadText(p)).seq}`))
	const publish = createPublisher({ bus, log: silentLogger(), metrics: createMetrics(), local: (_a, json) => seen.push(`local ${JSON.parse(json).seq}`) })
	publish('a1', [event(1), event(2)])
	await eventually(() => seen.length === 4, 'both deliveries')
	expect(seen).toEqual(['local 1', 'local 2', 'bus 1', 'bus 2'])
	await bus.close()
})

test('a failing local fan-out neither throws at the caller (the bid is committed) nor stops the bus', async () => {
	const bus = createLocalEventBus()
	const onBus: number[] = []
	bus.subscribe('a1', (p) => onBus.push(JSON.parse(payloadText(p)).seq))
	const publish = createPublisher({
		bus,
		log: silentLogger(),
		metrics: createMetrics(),
		local: () => {
			throw new Error('hub broke')
		},
	})
	expect(() => publish('a1', [event(1)])).not.toThrow()
	await eventually(() => onBus.length === 1, 'the bus delivery')
	await bus.close()
})

test('a publish the bus refuses is counted, not thrown', async () => {
	const bus = createLocalEventBus()
	await bus.close()
	const metrics = createMetrics()
	createPublisher({ bus, log: silentLogger(), metrics })('a1', [event(1)])
	const failures = () => metrics.registry.getSingleMetricAsString('gavel_bus_publish_failures_total')
	for (let i = 0; i < 100 && !(await failures()).includes('total 1'); i++) await Bun.sleep(5)
	expect(await failures()).toContain('gavel_bus_publish_failures_total 1')
	expect(await metrics.registry.getSingleMetricAsString('gavel_bus_publishes_in_flight')).toContain('gavel_bus_publishes_in_flight 0')
})

/** A bus that records what it is asked to publish, and stores everything at once. */
function recordingBus() {
	const calls: string[] = []
	const bus = createLocalEventBus()
	return {
		calls,
		bus: {
			...bus,
			publish: async (auction: string, _id: string, json: string, state?: string) =>
				void calls.push(`event ${JSON.parse(json).seq}${state ? ` + state ${JSON.parse(state).rev}` : ''}`),
			publishState: async (_auction: string, rev: number) => void calls.push(`state ${rev} alone`),
		},
	}
}

test("a commit's state record rides with its last event: one bus message for both", async () => {
	const { calls, bus } = recordingBus()
	const publish = createPublisher({ bus, log: silentLogger(), metrics: createMetrics() })
	await publish('a1', [event(1), event(2)], JSON.stringify({ auction: 'a1', rev: 2 }))
	expect(calls).toEqual(['event 1', 'event 2 + state 2'])
})

test('a commit without a public event (a hidden raise) sends its state record alone; events without one go plain', async () => {
	const { calls, bus } = recordingBus()
	const publish = createPublisher({ bus, log: silentLogger(), metrics: createMetrics() })
	await publish('a1', [], JSON.stringify({ auction: 'a1', rev: 7 }))
	await publish('a1', [event(3)], null)
	expect(calls).toEqual(['state 7 alone', 'event 3'])
})
