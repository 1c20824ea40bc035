/**
 * The timeouts the load balancer, ECS and gavel each keep, set in one place because they only work
 * together (README "Deploy", timeouts). The gavel side reaches the tasks as environment variables:
 *   HTTP_IDLE_TIMEOUT_S  above the ALB idle timeout: AWS asks the target to keep idle connections
 *                        longer than the ALB, or a request races the target's close and gets a 502;
 *   LIVE_IDLE_TIMEOUT_S  Bun pings a quiet WebSocket some seconds before this (wsPingIntervalS in
 *                        src/ops/timeouts.ts): that must come inside the ALB idle timeout;
 *   LIVE_DRAIN_SPREAD_MS gavel spreads its 1001 closes over this on shutdown, so watchers
 *                        reconnect spread out instead of in one wave;
 *   SHUTDOWN_TIMEOUT_MS  gavel's whole graceful shutdown, which ECS's stopTimeout must outlast.
 * The ALB's deregistration delay is lowered to the drain: a longer one holds a leaving task's
 * sockets until the ALB cuts them all at once.
 */
import { timeoutProblems, type DeploymentTimeouts } from '../../src/ops/timeouts'

/** The deployment's timeouts, named as gavel's own check names them. */
export type Timeouts = DeploymentTimeouts
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
 * timeoutProblemsOfStack is gavel's own check of these relations (src/ops/timeouts.ts, with
 * Bun's measured WebSocket ping interval), plus the ALB's own range: the stack refuses at preview
 * what the app would see go wrong, with the same rules, never an approximation of them.
 */
export function timeoutProblemsOfStack(t: Timeouts): string[] {
	const problems: string[] = []
	if (!Number.isInteger(t.albIdleTimeoutS) || t.albIdleTimeoutS < 1 || t.albIdleTimeoutS > 4000)
		problems.push(`albIdleTimeoutSeconds must be a whole number 1..4000 (got ${t.albIdleTimeoutS})`)
	return [...problems, ...timeoutProblems(t)]
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
