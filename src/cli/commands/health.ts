import { loadConfig, type Config } from '../../config.ts'
import { CliError, parseDuration, UsageError } from '../args.ts'
import { defineCommand } from '../spec.ts'

/**
 * health asks the gavel serving on this host (PORT and HOST from the environment, as `serve`
 * reads them) whether it is ready, and exits 0 or 1: a container health check that needs no curl
 * in the image. It prints the answer, which `docker inspect` keeps with the health state.
 */
export const healthCommand = defineCommand({
	name: 'health',
	summary: 'exit 0 when the gavel on this host is ready, else 1 (for container health checks)',
	description: 'Asks GET /readyz (every dependency answers) or, with --live, GET /healthz (the process answers), and prints the answer.',
	options: [
		{ name: 'live', type: 'boolean', help: 'ask /healthz instead: alive, whatever its dependencies say' },
		{ name: 'url', type: 'string', value: 'URL', help: 'the gavel to ask', defaultHelp: 'http://HOST:PORT from the environment, as serve reads them' },
		{ name: 'timeout', type: 'string', value: 'DURATION', default: '3s', help: 'how long to wait for the answer' },
	],
	env: [['PORT, HOST', 'where the gavel on this host listens (default 3000; 0.0.0.0 is asked on 127.0.0.1)']],
	examples: (gavel) => [`${gavel} health`, '# the check ECS runs: alive even while Redis is down', `${gavel} health --live`],
	async run({ values }) {
		if (values.url !== undefined && !URL.canParse(values.url)) throw new UsageError(`--url must be a URL such as http://127.0.0.1:3000, got ${JSON.stringify(values.url)}`)
		const base = values.url ?? localUrl(loadConfig())
		const url = new URL(values.live ? '/healthz' : '/readyz', base)
		try {
			const res = await fetch(url, { signal: AbortSignal.timeout(parseDuration(values.timeout, '--timeout')) })
			const body = (await res.text()).trim()
			if (res.ok) {
				console.log(body)
				return 0
			}
			console.error(`gavel: ${url} answered ${res.status}: ${body}`)
		} catch (err) {
			console.error(`gavel: ${url} did not answer: ${(err as Error).message}`)
		}
		return 1
	},
})

/** localUrl is where `serve` listens, seen from the same host: a wildcard HOST is reached on loopback. */
function localUrl(config: Config): string {
	if (config.PORT === 0) throw new CliError('PORT=0 picks a free port at start: pass --url')
	const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST
	return `http://${host.includes(':') ? `[${host}]` : host}:${config.PORT}`
}
