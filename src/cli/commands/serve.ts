import { loadConfig, type Config } from '../../config.ts'
import { createLogger } from '../../observability/log.ts'
import { startGavel, type Gavel } from '../../server.ts'
import { CliError } from '../args.ts'
import { shellQuote } from '../program.ts'
import { defineCommand } from '../spec.ts'

const DEFAULT_DATA_DIR = './data'

/**
 * tokenHint is the command the banner suggests for a first token, written for how this gavel was
 * started (`program`), and naming DATA_DIR when it is not the default so that it finds the secret.
 */
export function tokenHint(program: string, dataDir: string): string {
	const env = dataDir === DEFAULT_DATA_DIR ? '' : `DATA_DIR=${shellQuote(dataDir)} `
	return `${env}${program} token --sub alice --role seller`
}

/**
 * banner is what a person starting gavel reads: where it listens, how to get a token, and with the
 * api role the web page and the API docs.
 */
export function banner(gavel: Pick<Gavel, 'url' | 'adapters' | 'devSecret'>, dataDir: string, program: string, api = true): string {
	const where = dataDir === DEFAULT_DATA_DIR ? `run it in this directory: the development secret is in ${dataDir}` : 'run it in this directory'
	const token = gavel.devSecret
		? `  get a token:  ${tokenHint(program, dataDir)}   (${where})`
		: '  tokens come from your identity provider (AUTH_JWT_SECRET / AUTH_JWKS_URL)'
	const { store, bus, archive } = gavel.adapters
	const pages = api
		? `  web page:     ${gavel.url}${gavel.devSecret ? '   (sign in as anyone: the development secret)' : ''}\n  API docs:     ${gavel.url}/openapi\n`
		: ''
	return `\n  gavel listening on ${gavel.url}  (store: ${store}, bus: ${bus}, archive: ${archive})\n${token}\n${pages}`
}

export const serveCommand = defineCommand({
	name: 'serve',
	summary: 'start gavel (also what gavel does without a command)',
	description:
		'Configured by the environment alone. Each of REDIS_URL, NATS_URL and DATABASE_URL that is unset means the\n' +
		'embedded one (in-memory store, in-process bus, SQLite archive in DATA_DIR). SIGTERM or SIGINT stops it\n' +
		'gracefully. Every variable is in docs/design.md §7.',
	options: [],
	env: [
		['PORT, HOST', 'where it listens (default 3000 on 0.0.0.0)'],
		['DATA_DIR', `the SQLite archive and the development token secret (default ${DEFAULT_DATA_DIR})`],
		['ROLES', 'a subset of api,live,archiver,closer (default all four)'],
		['REDIS_URL, NATS_URL, DATABASE_URL', 'the real store, bus and archive'],
		['AUTH_JWT_SECRET, AUTH_JWKS_URL', 'how tokens are checked (unset outside production: a secret generated into DATA_DIR)'],
	],
	examples: (gavel) => [`${gavel} serve`, '# on another port, keeping its data elsewhere', `PORT=8080 DATA_DIR=/tmp/gavel ${gavel} serve`],
	async run({ program }) {
		const config = loadConfig()
		const log = createLogger(config.LOG_LEVEL)
		const started = performance.now()
		const gavel = await startGavel(config, log).catch((err: unknown) => {
			if ((err as { code?: string }).code === 'EADDRINUSE') throw new CliError(`port ${config.PORT} is already in use; stop what listens there or set PORT`)
			throw err
		})
		log.info(
			{ url: gavel.url, roles: [...config.roles], adapters: gavel.adapters, archiver: gavel.archiver, startupMs: Math.round(performance.now() - started) },
			'gavel is ready',
		)
		if (process.stderr.isTTY || !config.production) console.error(banner(gavel, config.DATA_DIR, program, config.roles.has('api')))
		await stopOnSignal(gavel, config, log)
		return 0
	},
})

/** stopOnSignal resolves once SIGTERM or SIGINT stopped gavel gracefully; past SHUTDOWN_TIMEOUT_MS it exits 1. */
function stopOnSignal(gavel: Gavel, config: Config, log: ReturnType<typeof createLogger>): Promise<void> {
	const deadline = config.SHUTDOWN_TIMEOUT_MS
	return new Promise<void>((resolve) => {
		const onSignal = (signal: string) => {
			log.info({ signal }, 'shutting down')
			const timer = setTimeout(() => {
				log.error({ deadlineMs: deadline }, 'shutdown deadline passed; exiting anyway')
				process.exit(1)
			}, deadline)
			gavel.stop().then(
				() => {
					clearTimeout(timer)
					log.info('stopped')
					resolve()
				},
				(err) => {
					log.error({ err }, 'shutdown failed')
					process.exit(1)
				},
			)
		}
		process.once('SIGTERM', () => onSignal('SIGTERM'))
		process.once('SIGINT', () => onSignal('SIGINT'))
	})
}
