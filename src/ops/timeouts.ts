/**
 * The timeouts a deployment must keep in agreement (docs/design.md §8, "Timeouts that agree"):
 * the load balancer's, the orchestrator's and gavel's own. Pure, with no imports, so the
 * deployment program's tests (pulumi, tests/pulumi) can import it and check the stack they build
 * against the app's real defaults and Bun's real ping behaviour.
 */

/** Bun.serve's HTTP keep-alive timeout: above an ALB's 120 s (AWS asks the target's to be longer), within Bun's 255 s. */
export const DEFAULT_HTTP_IDLE_TIMEOUT_S = 130
/** Bun.serve refuses an idleTimeout above this ("expects idleTimeout to be 255 or less"). */
export const MAX_HTTP_IDLE_TIMEOUT_S = 255
/** A WebSocket silent this long is closed; Bun pings it before (wsPingIntervalS). */
export const DEFAULT_LIVE_IDLE_TIMEOUT_S = 120
/** Bun's WebSocket idle timeout range (uWebSockets): 0 turns pings off, 1–7 round up to 8, 16 minutes at most. */
export const MIN_LIVE_IDLE_TIMEOUT_S = 8
export const MAX_LIVE_IDLE_TIMEOUT_S = 960
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000
/** On SIGTERM the /live sockets are closed with 1001 spread over this long, so watchers reconnect spread out. */
export const DEFAULT_LIVE_DRAIN_SPREAD_MS = 5_000
/** uWebSockets checks socket timeouts on a 4-second tick: a timeout fires up to one tick late. */
export const SOCKET_TIMER_TICK_S = 4

/**
 * livePingMarginS is how long before its idle timeout Bun (uWebSockets) pings a silent WebSocket:
 * 4 s, doubled while the idle timeout is at least four margins, at most 16 s
 * (uWebSockets' calculateIdleTimeoutCompnents). So 8–15 s → 4, 16–31 s → 8, 32 s and more → 16.
 * Measured on Bun 1.4.5: idleTimeout 12 → first ping after 8 s, 20 → 12 s, 40 → 24 s.
 */
export function livePingMarginS(liveIdleTimeoutS: number): number {
	let margin = 4
	while (liveIdleTimeoutS - margin * 2 >= margin * 2 && margin < 16) margin *= 2
	return margin
}

/**
 * wsPingIntervalS is the longest a WebSocket can stay silent before Bun pings it: the idle
 * timeout minus the margin, rounded up to the timer's 4-second tick. A load balancer whose idle
 * timeout is above it never cuts an idle watcher that answers pings. After a ping the socket has
 * the margin to answer, or it is closed.
 */
export function wsPingIntervalS(liveIdleTimeoutS: number): number {
	const idle = Math.max(MIN_LIVE_IDLE_TIMEOUT_S, liveIdleTimeoutS)
	return Math.ceil((idle - livePingMarginS(idle)) / SOCKET_TIMER_TICK_S) * SOCKET_TIMER_TICK_S
}

export interface DeploymentTimeouts {
	/** The load balancer's idle timeout (ALB: 1–4000 s). */
	albIdleTimeoutS: number
	/** How long the target group drains a deregistered target before ECS sends SIGTERM. */
	deregistrationDelayS: number
	/** ECS stopTimeout: SIGTERM to SIGKILL (Fargate: at most 120 s). */
	stopTimeoutS: number
	/** gavel's HTTP_IDLE_TIMEOUT_S. */
	httpIdleTimeoutS: number
	/** gavel's LIVE_IDLE_TIMEOUT_S. */
	liveIdleTimeoutS: number
	/** gavel's SHUTDOWN_TIMEOUT_MS. */
	shutdownTimeoutMs: number
	/** gavel's LIVE_DRAIN_SPREAD_MS. */
	drainSpreadMs: number
}

/** The app's side of DeploymentTimeouts at its defaults. */
export const APP_TIMEOUT_DEFAULTS = {
	httpIdleTimeoutS: DEFAULT_HTTP_IDLE_TIMEOUT_S,
	liveIdleTimeoutS: DEFAULT_LIVE_IDLE_TIMEOUT_S,
	shutdownTimeoutMs: DEFAULT_SHUTDOWN_TIMEOUT_MS,
	drainSpreadMs: DEFAULT_LIVE_DRAIN_SPREAD_MS,
} as const satisfies Partial<DeploymentTimeouts>

/**
 * timeoutProblems names each relation the given timeouts break, each with what goes wrong;
 * empty when they agree.
 */
export function timeoutProblems(t: DeploymentTimeouts): string[] {
	const problems: string[] = []
	if (!(t.httpIdleTimeoutS > t.albIdleTimeoutS))
		problems.push(
			`HTTP_IDLE_TIMEOUT_S (${t.httpIdleTimeoutS} s) must be above the load balancer's idle timeout (${t.albIdleTimeoutS} s): ` +
				'otherwise gavel closes a kept-alive connection the balancer is about to reuse, and clients see 502s',
		)
	if (t.httpIdleTimeoutS > MAX_HTTP_IDLE_TIMEOUT_S)
		problems.push(`HTTP_IDLE_TIMEOUT_S (${t.httpIdleTimeoutS} s) is above Bun's limit of ${MAX_HTTP_IDLE_TIMEOUT_S} s: gavel would not start`)
	if (t.liveIdleTimeoutS < MIN_LIVE_IDLE_TIMEOUT_S || t.liveIdleTimeoutS > MAX_LIVE_IDLE_TIMEOUT_S)
		problems.push(
			`LIVE_IDLE_TIMEOUT_S (${t.liveIdleTimeoutS} s) must be ${MIN_LIVE_IDLE_TIMEOUT_S}–${MAX_LIVE_IDLE_TIMEOUT_S}: outside it Bun sends no pings or refuses it`,
		)
	else if (!(t.albIdleTimeoutS > wsPingIntervalS(t.liveIdleTimeoutS)))
		problems.push(
			`the load balancer's idle timeout (${t.albIdleTimeoutS} s) must be above the WebSocket ping interval ` +
				`(${wsPingIntervalS(t.liveIdleTimeoutS)} s at LIVE_IDLE_TIMEOUT_S=${t.liveIdleTimeoutS}): otherwise it cuts idle watchers before Bun pings them`,
		)
	if (!(t.stopTimeoutS * 1000 > t.shutdownTimeoutMs))
		problems.push(
			`the stop timeout (${t.stopTimeoutS} s) must be above SHUTDOWN_TIMEOUT_MS (${t.shutdownTimeoutMs} ms): ` +
				'otherwise SIGKILL cuts a graceful stop short (bids in flight, events not yet flushed)',
		)
	if (t.deregistrationDelayS * 1000 > t.shutdownTimeoutMs)
		problems.push(
			`the deregistration delay (${t.deregistrationDelayS} s) must be at most SHUTDOWN_TIMEOUT_MS (${t.shutdownTimeoutMs} ms): ` +
				'SIGTERM comes only after it, so a longer drain keeps watchers on a leaving task until the balancer cuts them without a 1001, and slows every deployment',
		)
	if (!(t.drainSpreadMs < t.shutdownTimeoutMs))
		problems.push(
			`LIVE_DRAIN_SPREAD_MS (${t.drainSpreadMs} ms) must be below SHUTDOWN_TIMEOUT_MS (${t.shutdownTimeoutMs} ms): ` +
				'the last watchers would be cut when the stop gives up instead of closed with 1001',
		)
	return problems
}
