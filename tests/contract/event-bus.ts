import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { payloadText, type EventBus } from '../../src/ports/event-bus.ts'
import { newEventId } from '../../src/events.ts'
import { eventually } from '../helpers/wait.ts'

export interface BusHarness {
	bus: EventBus
	cleanup(): Promise<void>
}

// Kept here too for suites that import it with the contract.
export { eventually } from '../helpers/wait.ts'

const event = (auction: string, seq: number) => {
	const id = newEventId()
	return { id, json: JSON.stringify({ id, type: 'bid.placed', auction, seq }) }
}

/** busContract is the one suite both EventBus adapters must pass. */
export function busContract(name: string, make: () => Promise<BusHarness>) {
	describe(`EventBus contract: ${name}`, () => {
		let harness: BusHarness
		beforeAll(async () => {
			harness = await make()
		})
		afterAll(() => harness.cleanup())

		test("a subscriber gets its auction's events in publish order, bytes unchanged", async () => {
			const { bus } = harness
			const got: string[] = []
			const other: string[] = []
			const stop = bus.subscribe('a1', (p) => got.push(payloadText(p)))
			const stopOther = bus.subscribe('a2', (p) => other.push(payloadText(p)))
			const sent = Array.from({ length: 200 }, (_, i) => event('a1', i + 1))
			await Promise.all(sent.map((e) => bus.publish('a1', e.id, e.json)))
			await eventually(() => got.length === sent.length, 'all events')
			expect(got).toEqual(sent.map((e) => e.json))
			expect(other).toEqual([])
			stop()
			stopOther()
		})

		test("a catch-all subscriber gets every auction's events, each auction's in publish order", async () => {
			const { bus } = harness
			const got: string[] = []
			const stop = bus.subscribeAll((p) => void got.push(payloadText(p)))
			const sent = Array.from({ length: 300 }, (_, i) => event(`all-${i % 3}`, Math.floor(i / 3) + 1))
			await Promise.all(sent.map((e) => bus.publish(JSON.parse(e.json).auction, e.id, e.json)))
			await eventually(() => got.length === sent.length, 'all events')
			for (const auction of ['all-0', 'all-1', 'all-2']) {
				const mine = (list: string[]) => list.filter((j) => JSON.parse(j).auction === auction)
				expect(mine(got)).toEqual(mine(sent.map((e) => e.json)))
			}
			stop()
			const late = event('all-0', 999)
			await bus.publish('all-0', late.id, late.json)
			await bus.flush()
			await Bun.sleep(50)
			expect(got).not.toContain(late.json)
		})

		test('state records reach the state subscribers only: no auction or catch-all subscriber sees one', async () => {
			const { bus } = harness
			const events: string[] = []
			const states: string[] = []
			const stops = [
				bus.subscribe('s1', (p) => void events.push(payloadText(p))),
				bus.subscribeAll((p) => void events.push(payloadText(p))),
				bus.subscribeAllStates((p) => void states.push(payloadText(p))),
			]
			const sent = Array.from({ length: 20 }, (_, i) => JSON.stringify({ auction: 's1', rev: i + 1, secret: 'leaderMax' }))
			await Promise.all(sent.map((json, i) => bus.publishState('s1', i + 1, json)))
			const marker = event('s1', 1)
			await bus.publish('s1', marker.id, marker.json)
			await eventually(() => states.length === sent.length && events.length === 2, 'the state records and the marker event')
			expect(states.sort()).toEqual([...sent].sort())
			expect(events).toEqual([marker.json, marker.json])
			for (const stop of stops) stop()
		})

		test("an event carrying its commit's state record: watchers get the event alone, the state subscribers the record", async () => {
			const { bus } = harness
			const events: string[] = []
			const states: string[] = []
			const stops = [
				bus.subscribe('s2', (p) => void events.push(payloadText(p))),
				bus.subscribeAll((p) => void events.push(payloadText(p))),
				bus.subscribeAllStates((p) => void states.push(payloadText(p))),
			]
			const sent = Array.from({ length: 10 }, (_, i) => ({ ...event('s2', i + 1), state: JSON.stringify({ auction: 's2', rev: i + 1, secret: 'leaderMax' }) }))
			await Promise.all(sent.map((e) => bus.publish('s2', e.id, e.json, e.state)))
			await eventually(() => states.length === sent.length && events.length === 2 * sent.length, 'the events and their state records')
			expect(events.sort()).toEqual(sent.flatMap((e) => [e.json, e.json]).sort())
			expect(events.some((json) => json.includes('leaderMax'))).toBe(false)
			expect(states.sort()).toEqual(sent.map((e) => e.state).sort())
			for (const stop of stops) stop()
		})

		test('unsubscribing stops delivery', async () => {
			const { bus } = harness
			const got: string[] = []
			const stop = bus.subscribe('a3', (p) => got.push(payloadText(p)))
			const first = event('a3', 1)
			await bus.publish('a3', first.id, first.json)
			await eventually(() => got.length === 1, 'the first event')
			stop()
			const second = event('a3', 2)
			await bus.publish('a3', second.id, second.json)
			await bus.flush()
			await Bun.sleep(50)
			expect(got).toEqual([first.json])
		})

		test('flush waits for publishes in flight; ping answers', async () => {
			const { bus } = harness
			const pending = Array.from({ length: 50 }, (_, i) => event('a4', i + 1)).map((e) => bus.publish('a4', e.id, e.json))
			await bus.flush()
			const settled = await Promise.allSettled(pending)
			expect(settled.every((s) => s.status === 'fulfilled')).toBe(true)
			await bus.ping()
		})
	})
}
