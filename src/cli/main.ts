#!/usr/bin/env bun
import { parseArgs } from 'node:util'
import { ConfigError, loadConfig, type Config } from '../config.ts'
import { StartupError } from '../errors.ts'
import { createLogger } from '../observability/log.ts'
import { startGavel } from '../server.ts'
import { signToken } from '../auth/tokens.ts'
import { devSecret } from '../auth/dev-secret.ts'
import { createClient, GavelApiError, unwrap, watch } from '../client/index.ts'
import { describeEvent, describeState, type Known } from './describe.ts'
import { parseAmount, parseDuration, UsageError } from './args.ts'
import packageJson from '../../package.json' with { type: 'json' }
import { openArchive, SQLITE_ARCHIVE_FILE } from '../adapters/open-archive.ts'

const USAGE = `gavel — real-time auction bidding

Usage:
  gavel serve                         start gavel (roles from ROLES, adapters from REDIS_URL / NATS_URL /
                                      DATABASE_URL)
  gavel token --sub ID [--role seller] [--ttl 1h]
                                      mint a token with the configured (or development) HS256 secret
  gavel auction create --title T --starting-price CENTS --increment CENTS --ends-in 10m
        [--id ID] [--reserve CENTS] [--buy-now CENTS] [--soft-close 30s] [--currency EUR]
  gavel watch AUCTION [--since SEQ] [--json]
                                      print the auction's events as they happen (JSON lines with --json)
  gavel bid AUCTION AMOUNT [--max CENTS] [--key IDEMPOTENCY_KEY]
  gavel health [--live] [--url URL] [--timeout 3s]
                                      exit 0 when the gavel on this host is ready (GET /readyz), else 1;
                                      --live asks /healthz (the process answers) instead; for container health checks
  gavel version                       print the version
  gavel migrate                       apply the archive's migrations (DATABASE_URL, else the SQLite file
                                      in DATA_DIR); \`serve\` with the archiver role also applies them

Client commands talk to --url (default $GAVEL_URL or http://localhost:3000) with --token
(default $GAVEL_TOKEN). Amounts are integer minor units (cents).`

async function main(argv: string[]): Promise<number> {
	const [command = 'serve', ...rest] = argv
	switch (command) {
		case 'serve':
			return serve()
		case 'token':
			return token(rest)
		case 'auction':
			if (rest[0] === 'create') return createAuction(rest.slice(1))
			break
		case 'watch':
			return watchAuction(rest)
		case 'bid':
			return bid(rest)
		case 'health':
			return health(rest)
		case 'version':
		case '--version':
		case '-v':
			console.log(packageJson.version)
			return 0
		case 'migrate':
			return migrateArchive()
		case 'help':
		case '--help':
		case '-h':
			console.log(USAGE)
			return 0
	}
	console.error(`unknown command: ${argv.join(' ')}\n\n${USAGE}`)
	return 2
}

async function serve(): Promise<number> {
	const config = loadConfig()
	const log = createLogger(config.LOG_LEVEL)
	const started = performance.now()
	const gavel = await startGavel(config, log)
	log.info(
		{ url: gavel.url, roles: [...config.roles], adapters: gavel.adapters, archiver: gavel.archiver, startupMs: Math.round(performance.now() - started) },
		'gavel is ready',
	)
	if (process.stderr.isTTY || !config.production) {
		const tokenHint = gavel.devSecret
			? `  get a token:  bun run gavel token --sub alice --role seller   (development secret in ${config.DATA_DIR})`
			: '  tokens come from your identity provider (AUTH_JWT_SECRET / AUTH_JWKS_URL)'
		console.error(`\n  gavel listening on ${gavel.url}  (store: ${gavel.adapters.store}, bus: ${gavel.adapters.bus}, archive: ${gavel.adapters.archive})\n${tokenHint}\n  API docs:     ${gavel.url}/openapi\n`)
	}
	const deadline = config.SHUTDOWN_TIMEOUT_MS
	await new Promise<void>((resolve) => {
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
	return 0
}

async function migrateArchive(): Promise<number> {
	const config = loadConfig()
	const archive = openArchive({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR }, { max: 1 })
	const where = config.DATABASE_URL ? `postgres at ${new URL(config.DATABASE_URL).host}` : `${config.DATA_DIR}/${SQLITE_ARCHIVE_FILE}`
	try {
		const applied = await archive.migrate()
		console.log(applied.length > 0 ? `applied migrations ${applied.join(', ')} to ${where}` : `${where} is up to date`)
		return 0
	} catch (err) {
		console.error(`gavel: could not migrate ${where}: ${(err as Error).message}`)
		return 1
	} finally {
		await archive.close()
	}
}

async function token(args: string[]): Promise<number> {
	const { values } = parseArgs({
		args,
		options: { sub: { type: 'string' }, role: { type: 'string', multiple: true }, ttl: { type: 'string', default: '1h' } },
	})
	if (!values.sub) throw new UsageError('token needs --sub (the user id)')
	const config = loadConfig()
	if (config.AUTH_JWKS_URL) throw new UsageError('AUTH_JWKS_URL is set: tokens come from your identity provider')
	const secret = config.AUTH_JWT_SECRET ?? (await devSecret(config.DATA_DIR))
	const ttlSeconds = Math.max(1, Math.round(parseDuration(values.ttl) / 1000))
	console.log(
		await signToken(secret, {
			sub: values.sub,
			roles: values.role ?? [],
			ttlSeconds,
			issuer: config.AUTH_ISSUER,
			audience: config.AUTH_AUDIENCE,
		}),
	)
	return 0
}

const clientOptions = {
	url: { type: 'string', default: Bun.env.GAVEL_URL ?? 'http://localhost:3000' },
	token: { type: 'string', default: Bun.env.GAVEL_TOKEN },
} as const

async function createAuction(args: string[]): Promise<number> {
	const { values } = parseArgs({
		args,
		options: {
			...clientOptions,
			id: { type: 'string' },
			title: { type: 'string' },
			'starting-price': { type: 'string' },
			increment: { type: 'string' },
			'ends-in': { type: 'string' },
			'starts-in': { type: 'string' },
			reserve: { type: 'string' },
			'buy-now': { type: 'string' },
			'soft-close': { type: 'string' },
			currency: { type: 'string' },
		},
	})
	if (!values.title) throw new UsageError('auction create needs --title')
	const now = Date.now()
	const client = createClient(values.url, { token: values.token })
	const auction = await unwrap(
		client.auctions.post({
			id: values.id,
			title: values.title,
			startingPrice: parseAmount('--starting-price', values['starting-price']),
			increment: parseAmount('--increment', values.increment),
			endsAt: now + parseDuration(values['ends-in'] ?? '10m'),
			startsAt: values['starts-in'] ? now + parseDuration(values['starts-in']) : undefined,
			reservePrice: values.reserve ? parseAmount('--reserve', values.reserve) : undefined,
			buyNowPrice: values['buy-now'] ? parseAmount('--buy-now', values['buy-now']) : undefined,
			softCloseMs: values['soft-close'] ? parseDuration(values['soft-close']) : undefined,
			currency: values.currency,
		}),
	)
	console.log(JSON.stringify(auction, null, 2))
	return 0
}

async function watchAuction(args: string[]): Promise<number> {
	const { values, positionals } = parseArgs({
		args,
		allowPositionals: true,
		options: { url: clientOptions.url, since: { type: 'string' }, json: { type: 'boolean', default: false } },
	})
	const [auction] = positionals
	if (!auction) throw new UsageError('watch needs AUCTION')
	if (values.since !== undefined && !/^\d+$/.test(values.since)) throw new UsageError('--since must be a seq (a whole number)')
	const known: Known = { currency: 'USD', endsAt: null }
	return new Promise<number>((resolve) => {
		const watcher = watch(values.url, auction, {
			since: values.since === undefined ? undefined : Number(values.since),
			onState(state) {
				known.currency = state.currency
				known.endsAt = state.endsAt
				if (!values.json) console.error(describeState(state))
			},
			onReset(state) {
				console.error(`reset: the events before #${state.seq} are no longer kept; continuing from the current state`)
			},
			onEvent(event) {
				console.log(values.json ? JSON.stringify(event) : describeEvent(event, known))
				if (event.type === 'bid.placed') known.endsAt = event.endsAt
				if (event.type === 'auction.closed') {
					watcher.close()
					resolve(0)
				}
			},
			onStatus(status) {
				if (status === 'reconnecting') console.error('connection lost; reconnecting…')
			},
			onError(err) {
				console.error(`gavel: ${err.code}: ${err.message}`)
				if (err.code === 'NOT_FOUND') resolve(1)
			},
		})
		const stop = () => {
			watcher.close()
			resolve(0)
		}
		process.once('SIGINT', stop)
		process.once('SIGTERM', stop)
	})
}

async function bid(args: string[]): Promise<number> {
	const { values, positionals } = parseArgs({
		args,
		allowPositionals: true,
		options: { ...clientOptions, max: { type: 'string' }, key: { type: 'string' } },
	})
	const [auction, amount] = positionals
	if (!auction || !amount) throw new UsageError('bid needs AUCTION and AMOUNT')
	const client = createClient(values.url, { token: values.token })
	const placed = await unwrap(
		client.auctions({ id: auction }).bids.post(
			{ amount: parseAmount('AMOUNT', amount), maxAmount: values.max ? parseAmount('--max', values.max) : undefined },
			{ headers: values.key ? { 'idempotency-key': values.key } : {} },
		),
	)
	console.log(JSON.stringify(placed, null, 2))
	return 0
}

/**
 * health asks the gavel serving on this host (PORT and HOST from the environment, as `serve`
 * reads them) whether it is ready, and exits 0 or 1: a container health check that needs no curl
 * in the image. It prints the answer, which `docker inspect` keeps with the health state.
 */
async function health(args: string[]): Promise<number> {
	const { values } = parseArgs({
		args,
		options: { url: { type: 'string' }, live: { type: 'boolean', default: false }, timeout: { type: 'string', default: '3s' } },
	})
	const base = values.url ?? localUrl(loadConfig())
	const url = new URL(values.live ? '/healthz' : '/readyz', base)
	try {
		const res = await fetch(url, { signal: AbortSignal.timeout(parseDuration(values.timeout)) })
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
}

/** localUrl is where `serve` listens, seen from the same host: a wildcard HOST is reached on loopback. */
function localUrl(config: Config): string {
	if (config.PORT === 0) throw new UsageError('PORT=0 picks a free port at start: pass --url')
	const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST
	return `http://${host.includes(':') ? `[${host}]` : host}:${config.PORT}`
}


main(Bun.argv.slice(2)).then(
	(code) => process.exit(code),
	(err) => {
		if (err instanceof ConfigError || err instanceof StartupError) console.error(`gavel: ${err.message}`)
		else if (err instanceof GavelApiError) console.error(`gavel: ${err.status ? `${err.status} ` : ''}${err.code}: ${err.message}`)
		else if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))
			console.error(`gavel: ${(err as Error).message}\n\n${USAGE}`)
		else if ((err as { code?: string }).code === 'EADDRINUSE')
			console.error(`gavel: port ${Bun.env.PORT ?? 3000} is already in use; stop what listens there or set PORT`)
		else console.error('gavel:', err)
		process.exit(1)
	},
)
