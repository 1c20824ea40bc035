import { Elysia } from 'elysia'
import { AppError } from '../../errors.ts'
import { Type as T } from '@sinclair/typebox'
import { errorResponses, Refusal } from '../error-responses.ts'
import type { Logger } from '../../observability/log.ts'
import type { Metrics } from '../../observability/metrics.ts'

export interface Dependency {
	name: string
	ping(): Promise<void>
	/** Shown in /readyz but not failing it: e.g. the archive for a process that takes bids. */
	optional?: boolean
}

const READY_TIMEOUT_MS = 2_000

const OpsModel = {
	live: T.Object({ status: T.Literal('ok') }, { description: 'The process answers' }),
	readiness: T.Object({
		status: T.Union([T.Literal('ready'), T.Literal('unavailable')]),
		checks: T.Record(T.String(), T.Union([T.Literal('ok'), T.Literal('unavailable')]), {
			description: 'each dependency by name: `ok` or `unavailable` (the reason is in the log, not here)',
		}),
	}),
	metrics: T.String({ description: 'Prometheus text exposition format' }),
}

/**
 * Liveness, readiness (every dependency answers) and Prometheus metrics. /readyz is public, so it
 * says only `ok` or `unavailable` per dependency: the reason (a host name, a driver's message)
 * goes to the log, once each time it changes.
 */
export function opsModule({
	metrics,
	dependencies,
	log,
	servesMetrics = true,
}: {
	metrics: Metrics
	dependencies: Dependency[]
	log: Logger
	/** False with METRICS_PORT: /metrics is served there only (metricsServer), this app answers 404. */
	servesMetrics?: boolean
}) {
	const lastProblem = new Map<string, string | null>()
	const remember = (name: string, problem: string | null) => {
		if ((lastProblem.get(name) ?? null) === problem) return
		lastProblem.set(name, problem)
		if (problem === null) log.info({ dependency: name }, 'dependency answers again')
		else log.warn({ dependency: name, problem }, 'dependency not ready')
	}
	return new Elysia({ name: 'ops' })
		.get('/healthz', () => ({ status: 'ok' as const }), {
			response: { 200: OpsModel.live, ...errorResponses({ 414: Refusal.urlTooLong }) },
			detail: { summary: 'Liveness', operationId: 'healthz', tags: ['operations'] },
		})
		.get(
			'/readyz',
			async ({ set }) => {
				const checks = await Promise.all(
					dependencies.map(async (d) => {
						try {
							await Promise.race([
								d.ping(),
								Bun.sleep(READY_TIMEOUT_MS).then(() => Promise.reject(new Error(`no answer in ${READY_TIMEOUT_MS} ms`))),
							])
							remember(d.name, null)
							return [d.name, 'ok', d.optional] as const
						} catch (err) {
							remember(d.name, (err as Error).message || 'unreachable')
							return [d.name, 'unavailable', d.optional] as const
						}
					}),
				)
				const ready = checks.every(([, s, optional]) => s === 'ok' || optional)
				if (!ready) set.status = 503
				return {
					status: ready ? ('ready' as const) : ('unavailable' as const),
					checks: Object.fromEntries(checks.map(([name, s]) => [name, s])),
				}
			},
			{
				response: {
					200: { ...OpsModel.readiness, description: 'Ready: every dependency answers (optional ones are only shown)' },
					503: { ...OpsModel.readiness, description: 'Not ready: a required dependency does not answer (its check says why)' },
					...errorResponses({ 414: Refusal.urlTooLong }),
				},
				detail: { summary: 'Readiness: every dependency answers', operationId: 'readyz', tags: ['operations'] },
			},
		)
		.get(
			'/metrics',
			() => {
				// The same answer as an unknown route: the public port does not tell that metrics exist.
				if (!servesMetrics) throw new AppError('NOT_FOUND', 404, 'no such route')
				return metricsResponse(metrics)
			},
			{
				response: { 200: OpsModel.metrics, ...errorResponses({ 414: Refusal.urlTooLong }) },
				detail: { summary: 'Prometheus metrics', operationId: 'metrics', tags: ['operations'] },
			},
		)
}

const metricsResponse = async (metrics: Metrics) =>
	new Response(await metrics.registry.metrics(), { headers: { 'content-type': metrics.registry.contentType } })

/**
 * metricsServer serves /metrics alone on a port of its own (METRICS_PORT), which the deployment
 * keeps off the public load balancer: the metrics name routes, counts and internals.
 */
export function metricsServer(metrics: Metrics, port: number, hostname: string): { port: number; stop(): Promise<void> } {
	const server = Bun.serve({
		port,
		hostname,
		reusePort: false,
		fetch: (request) =>
			new URL(request.url).pathname === '/metrics' ? metricsResponse(metrics) : Response.json({ error: { code: 'NOT_FOUND', message: 'no such route' } }, { status: 404 }),
	})
	return { port: server.port!, stop: () => server.stop(true) }
}
