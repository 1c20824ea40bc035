import { jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { Logger } from '../../observability/log.ts'

// Short: the store waits empty meanwhile (bids answer 503), and a consumer info is one cheap request.
const POLL_MS = 50
const LOG_EVERY_MS = 5_000

/**
 * archiveDrained resolves once the archivers' durable consumer has nothing left: none of the
 * stream's messages waiting to be delivered or acknowledged. Then the archive holds everything
 * the log held when this was called, and a rebuild from it is as new as the log
 * (docs/design.md §6). A consumer that does not exist yet has archived nothing, and waits for
 * nothing. Past `timeoutMs` it resolves anyway, saying so: a stuck archiver must not keep the store
 * empty forever (a state restored too old shows up as a seq conflict, never silently).
 */
export async function archiveDrained(nc: NatsConnection, stream: string, consumer: string, log: Logger, timeoutMs: number): Promise<void> {
	const jsm = await jetstreamManager(nc)
	const started = Date.now()
	let lastLog = started
	for (;;) {
		try {
			const info = await jsm.consumers.info(stream, consumer)
			const left = info.num_pending + info.num_ack_pending
			if (left === 0) return
			if (Date.now() - lastLog >= LOG_EVERY_MS) {
				lastLog = Date.now()
				log.info({ left, waitedMs: Date.now() - started }, 'waiting for the archiver to take in what the log holds')
			}
		} catch (err) {
			if ((err as Error).name === 'ConsumerNotFoundError' || (err as Error).name === 'StreamNotFoundError') return
			log.warn({ err }, 'cannot read the archivers’ consumer; trying again')
		}
		if (Date.now() - started >= timeoutMs) {
			log.error({ timeoutMs }, 'the archive did not catch up with the log in time; rebuilding from what it has')
			return
		}
		await Bun.sleep(POLL_MS)
	}
}
