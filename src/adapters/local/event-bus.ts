import type { EventBus, EventPayload } from '../../ports/event-bus.ts'

/**
 * createLocalEventBus is the embedded EventBus: delivery inside one process, in publish order.
 * Handlers run on a microtask, never inside the publisher's call stack, as with a real bus.
 */
export function createLocalEventBus() {
	const handlers = new Map<string, Set<(payload: EventPayload) => void>>()
	const everything = new Set<(payload: EventPayload) => void>()
	let closed = false
	const bus = {
		async publish(auction, _eventId, payload) {
			if (closed) throw new Error('event bus is closed')
			const set = handlers.get(auction)
			if (!set && everything.size === 0) return
			await Promise.resolve()
			if (set) for (const handler of set) handler(payload)
			for (const handler of everything) handler(payload)
		},
		subscribe(auction, onEvent) {
			let set = handlers.get(auction)
			if (!set) handlers.set(auction, (set = new Set()))
			set.add(onEvent)
			return () => {
				set.delete(onEvent)
				if (set.size === 0 && handlers.get(auction) === set) handlers.delete(auction)
			}
		},
		subscribeAll(onEvent) {
			everything.add(onEvent)
			return () => {
				everything.delete(onEvent)
			}
		},
		onResume() {
			return () => {} // nothing to lose in one process
		},
		async flush() {},
		async ping() {
			if (closed) throw new Error('event bus is closed')
		},
		async close() {
			closed = true
			handlers.clear()
			everything.clear()
		},
	} satisfies EventBus
	return bus
}
