import type { EventBus, EventPayload } from '../../ports/event-bus.ts'

type Handler = (payload: EventPayload) => void | Promise<void>

/**
 * createLocalEventBus is the embedded EventBus: delivery inside one process, in publish order.
 * Handlers run on a microtask, never inside the publisher's call stack, as with a real bus. An
 * auction's subscribers get an event only once every catch-all subscriber has acknowledged it.
 */
export function createLocalEventBus() {
	const handlers = new Map<string, Set<Handler>>()
	const everything = new Set<Handler>()
	const everyState = new Set<Handler>()
	let closed = false
	/** Calls each handler; resolves once those that answered with a promise (acknowledgements) have. */
	const deliver = async (targets: Iterable<Handler>, payload: EventPayload) => {
		let acks: Array<Promise<void>> | null = null
		for (const handler of targets) {
			const ack = handler(payload)
			if (ack) (acks ??= []).push(ack)
		}
		if (acks) await Promise.all(acks)
	}
	/** A state record to the state subscribers, on a microtask like every delivery. */
	const deliverState = async (payload: EventPayload) => {
		if (everyState.size === 0) return
		await Promise.resolve()
		await deliver(everyState, payload)
	}
	const bus = {
		async publish(auction, _eventId, payload, state?) {
			if (closed) throw new Error('event bus is closed')
			// The commit's state record goes to its own subscribers, as publishState sends one; the
			// publish settles once both are stored.
			const stored = state ? deliverState(state) : null
			stored?.catch(() => {}) // awaited below; a failed event delivery must not leave it unhandled
			if (!handlers.has(auction) && everything.size === 0) return void (await stored)
			await Promise.resolve()
			// The catch-all subscribers first (the embedded archive, which acknowledges once its
			// commit holds the event), the auction's own (watchers) after: in one process the log is
			// that file, and a watcher must never see an event a crash could still take back.
			await deliver(everything, payload)
			const set = handlers.get(auction)
			if (set) await deliver(set, payload)
			await stored
		},
		async publishState(_auction, _rev, payload) {
			if (closed) throw new Error('event bus is closed')
			await deliverState(payload)
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
		subscribeAllStates(onState) {
			everyState.add(onState)
			return () => {
				everyState.delete(onState)
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
			everyState.clear()
		},
	} satisfies EventBus
	return bus
}
