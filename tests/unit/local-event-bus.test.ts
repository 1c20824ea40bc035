import { expect, test } from 'bun:test'
import { createLocalEventBus } from '../../src/adapters/local/event-bus.ts'
import { busContract } from '../contract/event-bus.ts'

busContract('local', async () => {
	const bus = createLocalEventBus()
	return { bus, cleanup: () => bus.close() }
})

test('a closed local bus refuses to publish', async () => {
	const bus = createLocalEventBus()
	await bus.close()
	expect(bus.publish('a', 'id', '{}')).rejects.toThrow('closed')
})

test('a catch-all subscriber that acknowledges with a promise holds publish until it does (the embedded archive)', async () => {
	const bus = createLocalEventBus()
	let acknowledge!: () => void
	const acked = new Promise<void>((resolve) => (acknowledge = resolve))
	bus.subscribeAll(() => acked)
	let published = false
	const publishing = bus.publish('a1', 'e1', '{"id":"e1"}').then(() => void (published = true))
	await Bun.sleep(10)
	expect(published).toBe(false)
	acknowledge()
	await publishing
	expect(published).toBe(true)
	// States wait the same way for their subscribers.
	let stateAck!: () => void
	bus.subscribeAllStates(() => new Promise<void>((resolve) => (stateAck = resolve)))
	let stored = false
	const storing = bus.publishState('a1', 1, '{}').then(() => void (stored = true))
	await Bun.sleep(10)
	expect(stored).toBe(false)
	stateAck()
	await storing
	await bus.close()
})

test("an auction's subscribers see an event only after the catch-all subscribers acknowledged it (what the embedded log holds)", async () => {
	const bus = createLocalEventBus()
	let acknowledge!: () => void
	bus.subscribeAll(() => new Promise<void>((resolve) => (acknowledge = resolve)))
	const seen: string[] = []
	bus.subscribe('a1', (p) => void seen.push(String(p)))
	const publishing = bus.publish('a1', 'e1', '{"id":"e1"}')
	await Bun.sleep(10)
	expect(seen).toEqual([])
	acknowledge()
	await publishing
	expect(seen).toEqual(['{"id":"e1"}'])
	await bus.close()
})
