/**
 * EventBus carries every event from the api role to watchers and the archiver.
 * Adapters: NATS JetStream (`adapters/nats`) and in-process (`adapters/local`), proven equal by
 * `tests/contract/event-bus.ts`. Payloads are event JSON, passed on unchanged.
 */
export interface EventBus {
	/**
	 * publish resolves once the bus holds the event durably. It retries transient failures
	 * itself (same event id, so the bus drops duplicates) and rejects only when the bus is
	 * closed or gives up, which the caller must log: the store keeps the event for repair.
	 *
	 * `state`, the state record of the commit this event ends (docs/design.md §6), travels with
	 * it: one message in the log holds both, so the log has either or neither, and the commit
	 * costs one store, ack and delivery instead of two. Watchers get the event alone; the
	 * archiver's log source hands over both.
	 */
	publish(auction: string, eventId: string, payload: string, state?: string): Promise<void>
	/**
	 * publishState records a commit's private state record (docs/design.md §6) in the log on its
	 * own, for a commit without public events (a hidden proxy raise) and for crash repair: never delivered to `subscribe` or `subscribeAll`, so watchers and their
	 * instances never see it. Resolves, retries and rejects as `publish` does; `rev` makes its
	 * id (`<auction>:<rev>`), so a retry is dropped as a duplicate.
	 */
	publishState(auction: string, rev: number, payload: string): Promise<void>
	/** Live delivery of one auction's events from now on; returns the way to stop. */
	subscribe(auction: string, onEvent: (payload: EventPayload) => void): () => void
	/**
	 * Live delivery of every auction's events from now on (each auction's in publish order);
	 * returns the way to stop. The embedded archive feeds on this; with NATS the archiver uses
	 * a durable JetStream consumer instead, which also replays what it missed.
	 *
	 * In-process, a handler may return a promise: `publish` then resolves only once it has (the
	 * embedded archive acknowledges an event once its SQLite commit holds it, which makes the
	 * commit the moment the event is durable).
	 */
	subscribeAll(onEvent: (payload: EventPayload) => void | Promise<void>): () => void
	/** Every auction's state records, as `subscribeAll` delivers events (the embedded archive). */
	subscribeAllStates(onState: (payload: EventPayload) => void | Promise<void>): () => void
	/**
	 * onResume calls `listener` each time the bus had lost its connection and has it back:
	 * live deliveries in between may be missing, so subscribers re-read what they need from
	 * the store. Returns the way to stop listening. The in-process bus never loses one.
	 */
	onResume(listener: () => void): () => void
	/** Resolves when every publish started so far has settled. */
	flush(): Promise<void>
	ping(): Promise<void>
	close(): Promise<void>
}

/** An event's JSON as the bus hands it over: bytes from NATS, a string in-process. */
export type EventPayload = string | Uint8Array

const decoder = new TextDecoder()
export const payloadText = (payload: EventPayload): string => (typeof payload === 'string' ? payload : decoder.decode(payload))

/**
 * eventIdOf reads the id of an event JSON. Both stores write `id` first (`{"id":"<uuid>",…`),
 * so the hot path slices it out instead of parsing; anything else falls back to a parse.
 */
export function eventIdOf(json: string): string {
	if (json.startsWith('{"id":"') && json.charCodeAt(43) === 34) return json.slice(7, 43)
	return (JSON.parse(json) as { id: string }).id
}

/**
 * seqOf reads an event's `seq` without parsing it: both stores write `id`, `type`, `auction`
 * (an id without quotes or escapes), `seq`, `at` first, so the first `"seq":` is the field.
 */
export function seqOf(json: string): number {
	const n = intAfter(json, ',"seq":')
	return n >= 0 ? n : (JSON.parse(json) as { seq: number }).seq
}

/** atOf reads an event's `at` (epoch ms) the same way; -1 when it is not where the stores put it. */
export const atOf = (json: string): number => intAfter(json, ',"at":')

function intAfter(json: string, key: string): number {
	const start = json.indexOf(key)
	if (start < 0) return -1
	let i = start + key.length
	let c = json.charCodeAt(i)
	if (c < 48 || c > 57) return -1
	let n = 0
	while (c >= 48 && c <= 57) {
		n = n * 10 + (c - 48)
		c = json.charCodeAt(++i)
	}
	return n
}
