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
