import type { Logger } from '../../observability/log.ts'
import { eventIdOf } from '../../ports/event-bus.ts'
import type { LogMessage, LogSource, LogSourceHooks } from '../../ports/log-source.ts'
import { stateKeyOf } from '../../domain/state-record.ts'

/**
 * createLocalLogSource is the embedded stack's log for the archiver: what the in-process bus
 * pushes. Nothing upstream keeps it, so it cannot be delivered again; instead each message reports
 * itself settled (`settled`: stored after the commit, or refused), which is what makes the embedded
 * archive's commit the moment an answer may call a commit durable. Dead letters go to the log file.
 */
export function createLocalLogSource({ log, settled }: { log: Logger; settled?: (key: string, stored: boolean) => void }) {
	let hooks: LogSourceHooks | null = null
	let stopped = false
	const noop = () => {}

	const deliver = (json: string, kind: LogMessage['kind'], key: string | null) => {
		const message: LogMessage = {
			json,
			kind,
			deliveries: 1,
			ack: key === null ? noop : () => settled?.(key, true),
			working: noop,
			async deadLetter(reason, error, letter) {
				hooks?.deadLettered(reason)
				if (key !== null) settled?.(key, false)
				log.error({ reason, error, ...letter?.context, key, payload: json.slice(0, 500) }, 'dead letter: not archived')
			},
		}
		void hooks?.take(message) // no waiting here: the bus cannot be paused, the batcher caps each write
	}
	/** The key the host waits on: an event's id, a state record's `auction:rev`; null when unreadable. */
	const keyOf = (json: string, kind: LogMessage['kind']): string | null => {
		if (kind === 'state') return stateKeyOf(json)
		try {
			return eventIdOf(json)
		} catch {
			return null
		}
	}

	const source = {
		start(h: LogSourceHooks) {
			hooks = h
		},
		pending: () => 0,
		async stop() {
			stopped = true
		},
		async close() {},
		/** Events from the in-process bus, in publish order. */
		push(payloads: readonly string[]) {
			if (stopped) return
			for (const json of payloads) deliver(json, 'event', keyOf(json, 'event'))
		},
		/** State records from the in-process bus. */
		pushStates(payloads: readonly string[]) {
			if (stopped) return
			for (const json of payloads) deliver(json, 'state', keyOf(json, 'state'))
		},
	} satisfies LogSource & Record<string, unknown>
	return source
}
