import os from 'node:os'

/** machine describes where a bench ran: CPU, cores, memory, and the versions of everything measured. */
export async function machine() {
	const versions: Record<string, string> = { bun: Bun.version, gavel: (await Bun.file(new URL('../../package.json', import.meta.url)).json()).version }
	try {
		const { default: Redis } = await import('ioredis')
		const redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 })
		await redis.connect()
		versions.redis = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? '?'
		await redis.quit()
	} catch {}
	try {
		const { connect } = await import('@nats-io/transport-node')
		const nc = await connect({ servers: 'nats://127.0.0.1:4222', timeout: 2000 })
		versions.nats = nc.info?.version ?? '?'
		await nc.close()
	} catch {}
	try {
		const { default: postgres } = await import('postgres')
		const sql = postgres('postgres://postgres@127.0.0.1:5432/postgres', { max: 1, onnotice: () => {} })
		versions.postgres = (await sql`show server_version`)[0]!.server_version
		await sql.end()
	} catch {}
	if (Bun.which('wrk')) {
		const wrk = Bun.spawnSync(['wrk', '--version'])
		versions.wrk = /wrk \S*?(\d+\.\d+\.\d+)/.exec(wrk.stdout.toString() + wrk.stderr.toString())?.[1] ?? '?'
	} else versions.wrk = 'not installed (bids used the in-Bun generator)'
	return {
		cpu: os.cpus()[0]?.model ?? 'unknown',
		cores: os.cpus().length,
		memoryGiB: Math.round(os.totalmem() / 2 ** 30),
		os: `${os.type()} ${os.release()}`,
		versions,
	}
}
