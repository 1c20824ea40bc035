import { expect, test } from 'bun:test'
import pino from 'pino'
import { createMetrics } from '../../src/observability/metrics.ts'
import { opsModule } from '../../src/modules/ops/index.ts'

/** A pino logger whose lines land in an array. */
function capturingLogger() {
	const lines: Array<Record<string, unknown>> = []
	const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) })
	return { log, lines }
}

test('/readyz tells anyone only ok or unavailable; the reason goes to the log once per change', async () => {
	let problem: string | null = 'connect ECONNREFUSED 10.1.2.3:6379 (redis://:hunter2@cache.internal)'
	const { log, lines } = capturingLogger()
	const app = opsModule({
		metrics: createMetrics(),
		log,
		dependencies: [
			{
				name: 'redis',
				ping: async () => {
					if (problem !== null) throw new Error(problem)
				},
			},
			{ name: 'sqlite', ping: async () => {}, optional: true },
		],
	})
	const readyz = async () => {
		const res = await app.handle(new Request('http://gavel/readyz'))
		return { status: res.status, text: await res.text() }
	}
	for (let i = 0; i < 3; i++) {
		const down = await readyz()
		expect(down.status).toBe(503)
		expect(JSON.parse(down.text)).toEqual({ status: 'unavailable', checks: { redis: 'unavailable', sqlite: 'ok' } })
		expect(down.text).not.toContain('10.1.2.3')
		expect(down.text).not.toContain('hunter2')
	}
	const warned = lines.filter((l) => l.msg === 'dependency not ready')
	expect(warned).toHaveLength(1)
	expect(warned[0]).toMatchObject({ dependency: 'redis', problem })

	problem = null
	expect(await readyz()).toEqual({ status: 200, text: JSON.stringify({ status: 'ready', checks: { redis: 'ok', sqlite: 'ok' } }) })
	expect(lines.filter((l) => l.msg === 'dependency answers again')).toHaveLength(1)
})

test('/healthz is liveness only: it never asks a dependency, so a Redis outage does not make the orchestrator kill gavel', async () => {
	let asked = 0
	const { log } = capturingLogger()
	const app = opsModule({
		metrics: createMetrics(),
		log,
		dependencies: [
			{ name: 'redis', ping: () => (asked++, Promise.reject(new Error('down'))) },
			{ name: 'nats', ping: () => (asked++, new Promise<void>(() => {})) },
		],
	})
	const res = await app.handle(new Request('http://gavel/healthz'))
	expect(res.status).toBe(200)
	expect(await res.json()).toEqual({ status: 'ok' })
	expect(asked).toBe(0)
	expect((await app.handle(new Request('http://gavel/readyz'))).status).toBe(503)
	expect(asked).toBe(2)
})
