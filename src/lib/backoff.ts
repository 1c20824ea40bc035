/**
 * backoffDelay is exponential backoff with full jitter: a random wait in [0, min(max, base·2^attempt)),
 * so many clients retrying after one outage do not return in lockstep.
 */
export function backoffDelay(attempt: number, { baseMs = 50, maxMs = 5_000 } = {}): number {
	return Math.random() * Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30))
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
