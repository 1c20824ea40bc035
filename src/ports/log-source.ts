/**
 * LogSource is the archiver's side of the log (docs/design.md §6): every event and state record,
 * each auction's in order, delivered again after a crash until the archiver acknowledged it.
 * Adapters: a JetStream durable consumer (`adapters/nats/log-source.ts`) and the in-process bus's
 * pushes (`adapters/local/log-source.ts`). The archiver's loop (workers/archiver/run.ts) is one
 * for both: decode, batch, write, then ack.
 */
export interface LogSource {
	/** Starts delivering to `hooks.take`, until `stop`. */
	start(hooks: LogSourceHooks): void
	/** Messages the log holds that were not delivered yet (JetStream's count; 0 in-process). */
	pending(): number
	/** No more deliveries; resolves once none is under way. Acks still work until `close`. */
	stop(): Promise<void>
	/** Lets go of the log, after the last acks. */
	close(): Promise<void>
}

export interface LogSourceHooks {
	/** One message. A returned promise holds back the next delivery until it settles (the archive is behind). */
	take(message: LogMessage): void | Promise<void>
	/**
	 * The source's own trouble (its consumer failed and is being re-created), for the archiver's
	 * health; null once it delivers again. Kept apart from the archive's own trouble.
	 */
	problem(text: string | null): void
	/** A message went to the dead letters, for the archiver's count by reason. */
	deadLettered(reason: string): void
}

/** One message of the log, as delivered, with how to settle it. */
export interface LogMessage {
	/** An event's JSON, or a state record's (`kind`). */
	json: string
	kind: 'event' | 'state'
	/** How many times the log has delivered it (1 the first time). */
	deliveries: number
	/** Stored: the log may forget it. */
	ack(): void
	/** Still being stored (the archive is down): not to be delivered to another archiver yet. */
	working(): void
	/** Refused for good: parked with the reason (a dead-letter stream, or the log file in-process). */
	deadLetter(reason: string, error: string, letter?: DeadLetterExtras): Promise<void>
}

/** What a dead letter may carry beyond the message itself. */
export interface DeadLetterExtras {
	/** The dead letter's body instead of the message as delivered (e.g. both sides of a seq conflict). */
	body?: string
	/** More fields for its log line. */
	context?: Record<string, unknown>
}
