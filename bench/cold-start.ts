import { rm } from 'node:fs/promises'
import { BENCH_SECRET, runId } from './lib/gavel.ts'

const ROOT = new URL('..', import.meta.url).pathname

/**
 * The cold-start workload: from spawning `gavel serve` to the first 200 from /readyz, best of
 * `runs`, with the embedded adapters and with Redis + NATS.
 */
const COLD_STREAM = 'GAVEL_BENCH_COLD'

export async function benchColdStart({ runs = 5 } = {}) {
	const measure = async (env: Record<string, string>) => {
		const times: number[] = []
		for (let i = 0; i < runs; i++) {
			// A port the kernel just handed out is free (a random one may be an ephemeral port in use).
			const probe = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
			const port = probe.port
			probe.stop(true)
			const id = runId()
			const started = performance.now()
			const proc = Bun.spawn(['bun', `${ROOT}src/cli/main.ts`, 'serve'], {
				cwd: ROOT,
				env: { PATH: Bun.env.PATH ?? '', HOME: Bun.env.HOME ?? '/tmp', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'error', AUTH_JWT_SECRET: BENCH_SECRET, DATA_DIR: `/tmp/gavel-${id}`, REDIS_PREFIX: id, NATS_STREAM: COLD_STREAM, NATS_DLQ_STREAM: `${COLD_STREAM}_DLQ`, NATS_SUBJECT_PREFIX: 'gavel_bench_cold', ...env },
				stdout: 'ignore',
				stderr: 'ignore',
			})
			try {
				for (;;) {
					if (performance.now() - started > 15_000) throw new Error('gavel did not become ready within 15 s')
					if (proc.exitCode !== null) throw new Error(`gavel exited with ${proc.exitCode} before it was ready`)
					const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false)
					if (ok) break
					await Bun.sleep(2)
				}
				times.push(performance.now() - started)
			} finally {
				proc.kill('SIGTERM')
				await proc.exited
				await rm(`/tmp/gavel-${id}`, { recursive: true, force: true })
			}
		}
		return { bestMs: Math.round(Math.min(...times)), medianMs: Math.round(times.toSorted((a, b) => a - b)[Math.floor(times.length / 2)]!) }
	}
	const embedded = await measure({})
	const real = await measure({ REDIS_URL: 'redis://127.0.0.1:6379', NATS_URL: 'nats://127.0.0.1:4222' })
	const { connect } = await import('@nats-io/transport-node')
	const { jetstreamManager } = await import('@nats-io/jetstream')
	const nc = await connect({ servers: 'nats://127.0.0.1:4222' })
	const jsm = await jetstreamManager(nc)
	for (const stream of [COLD_STREAM, `${COLD_STREAM}_DLQ`]) await jsm.streams.delete(stream).catch(() => {})
	await nc.close()
	return { embedded, real }
}
