import { Elysia } from 'elysia'
import type { Metrics } from '../../observability/metrics.ts'

export interface Dependency {
	name: string
	ping(): Promise<void>
	/** Shown in /readyz but not failing it: e.g. the archive for a process that takes bids. */
	optional?: boolean
}

const READY_TIMEOUT_MS = 2_000

/** Liveness, readiness (every dependency answers) and Prometheus metrics. */
export function opsModule({ metrics, dependencies }: { metrics: Metrics; dependencies: Dependency[] }) {
	return new Elysia({ name: 'ops' })
		.get('/healthz', () => ({ status: 'ok' as const }), { detail: { summary: 'Liveness' } })
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
							return [d.name, 'ok', d.optional] as const
						} catch (err) {
							return [d.name, (err as Error).message || 'unreachable', d.optional] as const
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
			{ detail: { summary: 'Readiness: every dependency answers' } },
		)
		.get(
			'/metrics',
			async () => new Response(await metrics.registry.metrics(), { headers: { 'content-type': metrics.registry.contentType } }),
			{ detail: { summary: 'Prometheus metrics' } },
		)
}
