import { describe, expect, test } from 'bun:test'
import {
	APP_TIMEOUT_DEFAULTS,
	livePingMarginS,
	MAX_HTTP_IDLE_TIMEOUT_S,
	timeoutProblems,
	wsPingIntervalS,
	type DeploymentTimeouts,
} from '../../src/ops/timeouts.ts'
import { livePingIntervalS, loadConfig } from '../../src/config.ts'

// A stack that agrees with the app's defaults: an ALB at 120 s, a short drain, ECS's 30 s stop timeout.
const agreeing: DeploymentTimeouts = { albIdleTimeoutS: 120, deregistrationDelayS: 5, stopTimeoutS: 30, ...APP_TIMEOUT_DEFAULTS }
const problemsWith = (change: Partial<DeploymentTimeouts>) => timeoutProblems({ ...agreeing, ...change })

describe('the WebSocket ping relation (uWebSockets, measured on Bun 1.4.5)', () => {
	test('the margin before the idle timeout is 4, 8 or 16 s', () => {
		expect([8, 15, 16, 31, 32, 120, 960].map(livePingMarginS)).toEqual([4, 4, 8, 8, 16, 16, 16])
	})

	test('the ping interval is the idle timeout minus the margin, rounded up to the 4 s tick', () => {
		// The measured first pings: 12 → 8 s, 20 → 12 s, 40 → 24 s.
		expect(wsPingIntervalS(12)).toBe(8)
		expect(wsPingIntervalS(20)).toBe(12)
		expect(wsPingIntervalS(40)).toBe(24)
		expect(wsPingIntervalS(22)).toBe(16)
		expect(wsPingIntervalS(120)).toBe(104)
	})

	test('config exposes it for the configured LIVE_IDLE_TIMEOUT_S', () => {
		expect(livePingIntervalS(loadConfig({}))).toBe(104)
		expect(livePingIntervalS(loadConfig({ LIVE_IDLE_TIMEOUT_S: '60' }))).toBe(44)
	})
})

describe('timeoutProblems', () => {
	test('the app defaults agree with a 120 s ALB, a short drain and a 30 s stop timeout', () => {
		expect(timeoutProblems(agreeing)).toEqual([])
	})

	test('an HTTP keep-alive not above the ALB idle timeout (502s)', () => {
		expect(problemsWith({ httpIdleTimeoutS: 120 }).join()).toContain('HTTP_IDLE_TIMEOUT_S (120 s) must be above')
		expect(problemsWith({ albIdleTimeoutS: 300 }).join()).toContain('HTTP_IDLE_TIMEOUT_S')
		expect(problemsWith({ httpIdleTimeoutS: MAX_HTTP_IDLE_TIMEOUT_S + 1, albIdleTimeoutS: 200 }).join()).toContain("Bun's limit")
	})

	test('an ALB idle timeout not above the real ping interval cuts idle watchers', () => {
		// 45 s is above a 30 s ping gavel does not send, below the 104 s one it does.
		expect(problemsWith({ albIdleTimeoutS: 45, httpIdleTimeoutS: 60 }).join()).toContain('WebSocket ping interval (104 s')
		expect(problemsWith({ albIdleTimeoutS: 104 }).join()).toContain('ping interval')
		expect(problemsWith({ albIdleTimeoutS: 105 })).toEqual([])
		expect(problemsWith({ liveIdleTimeoutS: 0 }).join()).toContain('LIVE_IDLE_TIMEOUT_S (0 s)')
	})

	test('a deregistration delay longer than the shutdown (a 300 s drain)', () => {
		expect(problemsWith({ deregistrationDelayS: 300 }).join()).toContain('deregistration delay (300 s)')
		expect(problemsWith({ deregistrationDelayS: 10 })).toEqual([])
	})

	test('a stop timeout that SIGKILLs a graceful stop, and a drain spread longer than the stop', () => {
		expect(problemsWith({ stopTimeoutS: 10 }).join()).toContain('stop timeout (10 s)')
		expect(problemsWith({ drainSpreadMs: 10_000 }).join()).toContain('LIVE_DRAIN_SPREAD_MS (10000 ms)')
	})
})
