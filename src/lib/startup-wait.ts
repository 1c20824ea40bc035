import { StartupError } from '../errors.ts'
import type { Logger } from '../observability/log.ts'

/** The longest pause between two attempts: a dependency that comes back is seen within it. */
const MAX_RETRY_S = 10

/**
 * withStartupWait runs `connect`; under an orchestrator (STARTUP_WAIT_S > 0) a StartupError is
 * retried with backoff (1, 2, 4 … 10 s) until `waitS` have passed, each attempt logged, and thrown
 * only then. With 0 it is thrown at once: a person at a terminal wants the error, not a wait.
 */
export async function withStartupWait<T>(
	connect: () => Promise<T>,
	{ waitS, log, sleep = Bun.sleep }: { waitS: number; log: Logger; sleep?: (ms: number) => Promise<unknown> },
): Promise<T> {
	const deadline = performance.now() + waitS * 1000
	for (let attempt = 0; ; attempt++) {
		try {
			return await connect()
		} catch (err) {
			if (!(err instanceof StartupError)) throw err
			const leftS = Math.max(0, (deadline - performance.now()) / 1000)
			if (leftS <= 0) throw err
			const retryS = Math.min(2 ** attempt, MAX_RETRY_S, leftS)
			log.warn(
				{ dependency: err.service, attempt: attempt + 1, retryInS: round(retryS), givingUpInS: round(leftS) },
				`waiting for ${err.service} at ${err.where}: ${err.why}; retrying in ${round(retryS)} s, giving up in ${round(leftS)} s`,
			)
			await sleep(retryS * 1000)
		}
	}
}

const round = (s: number) => Math.round(s * 10) / 10
