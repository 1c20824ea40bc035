import { OutcomeUnknownError } from '../../errors.ts'

/**
 * durable waits, at most `ms`, for a commit to be held by the log (the publisher's promise): what
 * makes an answered 201 survive the loss of any one component (docs/design.md §6). Past the wait,
 * or when the bus gave up, the answer is a retryable 503 OUTCOME_UNKNOWN; the bus goes on trying.
 */
export function durable(stored: Promise<void>, ms: number, what: string, retry?: string): Promise<void> {
	let timer: ReturnType<typeof setTimeout> | undefined
	const late = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new OutcomeUnknownError(what, { retry })), ms)
	})
	return Promise.race([stored.catch((err: unknown) => Promise.reject(new OutcomeUnknownError(what, { cause: err, retry }))), late]).finally(() =>
		clearTimeout(timer),
	)
}
