/**
 * The timeouts the load balancer, ECS and gavel each keep, set in one place because they only work
 * together (README "Deploy", timeouts). The gavel side reaches the tasks as environment variables:
 *   HTTP_IDLE_TIMEOUT_S  above the ALB idle timeout: AWS asks the target to keep idle connections
 *                        longer than the ALB, or a request races the target's close and gets a 502;
 *   LIVE_IDLE_TIMEOUT_S  Bun pings a quiet WebSocket about 16 s before this, so it sits below the
 *                        ALB idle timeout and the ALB never cuts a socket gavel still keeps;
 *   LIVE_DRAIN_SPREAD_MS gavel spreads its 1001 closes over this on shutdown, so watchers
 *                        reconnect spread out instead of in one wave;
 *   SHUTDOWN_TIMEOUT_MS  gavel's whole graceful shutdown, which ECS's stopTimeout must outlast.
 * The ALB's deregistration delay is lowered to the drain: a longer one holds a leaving task's
 * sockets until the ALB cuts them all at once.
 */
export interface Timeouts {
	albIdleTimeoutS: number
	deregistrationDelayS: number
	stopTimeoutS: number
	httpIdleTimeoutS: number
	liveIdleTimeoutS: number
	shutdownTimeoutMs: number
	drainSpreadMs: number
}

/** How long before LIVE_IDLE_TIMEOUT_S Bun sends its ping (its idle timer's granularity). */
export const BUN_PING_LEAD_S = 16

/** Room between gavel's ping and the ALB's cut: a ping queued behind a busy event loop still lands. */
export const PING_MARGIN_S = 15

export const DEFAULT_TIMEOUTS: Timeouts = {
	albIdleTimeoutS: 120,
	deregistrationDelayS: 10,
	stopTimeoutS: 30,
	httpIdleTimeoutS: 130,
	liveIdleTimeoutS: 90,
	shutdownTimeoutMs: 10_000,
	drainSpreadMs: 5_000,
}

/**
 * checkTimeouts refuses, at preview, timeouts that disagree in the ways that hurt: the ALB cutting
 * sockets gavel keeps (no ping in time), 502s from a target that closes idle connections first,
 * SIGKILL before gavel's shutdown ends, and a deregistration delay that outlasts gavel's drain.
 */
export function timeoutProblemsOfStack(t: Timeouts): string[] {
	const problems: string[] = []
	if (!Number.isInteger(t.albIdleTimeoutS) || t.albIdleTimeoutS < 1 || t.albIdleTimeoutS > 4000)
		problems.push(`albIdleTimeoutSeconds must be a whole number 1..4000 (got ${t.albIdleTimeoutS})`)
	const pingS = t.liveIdleTimeoutS - BUN_PING_LEAD_S
	if (pingS < 1 || pingS + PING_MARGIN_S > t.albIdleTimeoutS)
		problems.push(
			`gavel pings a quiet WebSocket ~${BUN_PING_LEAD_S} s before LIVE_IDLE_TIMEOUT_S (${t.liveIdleTimeoutS} s): that must come at least ${PING_MARGIN_S} s inside the ALB idle timeout (${t.albIdleTimeoutS} s), or the ALB cuts watchers' sockets`,
		)
	if (t.httpIdleTimeoutS <= t.albIdleTimeoutS)
		problems.push(`HTTP_IDLE_TIMEOUT_S (${t.httpIdleTimeoutS} s) must exceed the ALB idle timeout (${t.albIdleTimeoutS} s), or requests race gavel's close and get 502s`)
	if (t.stopTimeoutS * 1000 <= t.shutdownTimeoutMs)
		problems.push(`ECS stopTimeout (${t.stopTimeoutS} s) must exceed SHUTDOWN_TIMEOUT_MS (${t.shutdownTimeoutMs} ms), or SIGKILL ends the graceful shutdown`)
	if (t.deregistrationDelayS * 1000 > t.shutdownTimeoutMs)
		problems.push(
			`the deregistration delay (${t.deregistrationDelayS} s) must be at most SHUTDOWN_TIMEOUT_MS (${t.shutdownTimeoutMs} ms): SIGTERM comes only after it, so longer, the ALB cuts a leaving task's sockets without a 1001`,
		)
	return problems
}

export function checkTimeouts(t: Timeouts): void {
	const problems = timeoutProblemsOfStack(t)
	if (problems.length > 0) throw new Error(`timeouts disagree:\n  ${problems.join('\n  ')}`)
}

/** The timeouts' environment variables for gavel's containers. */
export function timeoutEnvironment(t: Timeouts): Record<string, string> {
	return {
		HTTP_IDLE_TIMEOUT_S: String(t.httpIdleTimeoutS),
		LIVE_IDLE_TIMEOUT_S: String(t.liveIdleTimeoutS),
		LIVE_DRAIN_SPREAD_MS: String(t.drainSpreadMs),
		SHUTDOWN_TIMEOUT_MS: String(t.shutdownTimeoutMs),
	}
}
