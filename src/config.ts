import { Type as T, type Static, type TObject } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { parseClusterNodes } from './adapters/redis/cluster-nodes.ts'
import { redactUrl } from './errors.ts'
import { serverList } from './lib/server-list.ts'
import { parseTrustProxy, type TrustProxy } from './http/client-address.ts'
import {
	DEFAULT_HTTP_IDLE_TIMEOUT_S,
	DEFAULT_LIVE_DRAIN_SPREAD_MS,
	DEFAULT_LIVE_IDLE_TIMEOUT_S,
	DEFAULT_SHUTDOWN_TIMEOUT_MS,
	MAX_HTTP_IDLE_TIMEOUT_S,
	MAX_LIVE_IDLE_TIMEOUT_S,
	MIN_LIVE_IDLE_TIMEOUT_S,
	wsPingIntervalS,
} from './ops/timeouts.ts'

/** Roles one process can run; `ROLES` picks a comma-separated subset (default: all). */
export const ROLE_NAMES = ['api', 'live', 'archiver', 'closer'] as const
export type Role = (typeof ROLE_NAMES)[number]

export const DEFAULT_PORT = 3000
// The timeouts a deployment must keep in agreement live in src/ops/timeouts.ts (docs/design.md §8).
export { DEFAULT_HTTP_IDLE_TIMEOUT_S, DEFAULT_LIVE_DRAIN_SPREAD_MS, DEFAULT_LIVE_IDLE_TIMEOUT_S, DEFAULT_SHUTDOWN_TIMEOUT_MS }
export const DEFAULT_LIVE_MAX_SUBSCRIPTIONS = 100 // auctions one WebSocket may watch at once
export const DEFAULT_LIVE_MAX_FRAME_BYTES = 4 * 1024 // client frames are ~60-byte ops
// Unsent bytes per socket before it is closed as slow; ~3,000 events, a few seconds of a hot auction.
export const DEFAULT_LIVE_SEND_BUFFER_BYTES = 1024 * 1024
// Open /live sockets per client address: a browser has a few, an office behind one NAT some dozens.
export const DEFAULT_LIVE_MAX_SOCKETS_PER_IP = 50
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 // a bid is ~40 bytes, an auction ~1 KB
export const DEFAULT_EVENTS_KEPT = 1_000 // docs/design.md §3: at least the last 1,000 per auction
export const DEFAULT_IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000
// Idempotency records one bidder keeps per auction: far more than a client retries, a bounded cost per bidder.
export const DEFAULT_IDEMPOTENCY_KEYS_PER_BIDDER = 100
// How long an answer waits for its commit to be durable in the log before it says the outcome is unknown.
export const DEFAULT_DURABLE_WAIT_MS = 5_000
// How long a commit waits for a Redis replica to hold it (REDIS_WAIT_REPLICAS) before it goes on without.
export const DEFAULT_REDIS_WAIT_TIMEOUT_MS = 250
export const DEFAULT_ARCHIVE_BATCH_MAX = 1_000 // events per INSERT; ~14 arrays of this length, far from any limit
// A partial batch waits at most this long. Embedded, a 201 waits for the archive's commit: short.
// From JetStream nothing waits for it (watchers and the store do not read the archive), and fuller
// batches cost Postgres 40 % less per event (bench/README.md); the history trails by at most this.
export const DEFAULT_ARCHIVE_BATCH_WAIT_MS = 5
export const DEFAULT_LOG_ARCHIVE_BATCH_WAIT_MS = 100
export const DEFAULT_ARCHIVE_WRITERS = 2 // Postgres batch statements in flight (SQLite always 1)
export const DEFAULT_ARCHIVE_ACK_WAIT_MS = 30_000 // JetStream redelivers an unacked event after this
export const DEFAULT_ARCHIVE_MAX_DELIVERIES = 20 // an event delivered this often without an ack is dead-lettered
export const DEFAULT_REPAIR_GRACE_MS = 5_000 // a seq gap younger than this is events still in flight
export const DEFAULT_REPAIR_INTERVAL_MS = 1_000
// JetStream's own limit for a stream's replicas (an odd count keeps a quorum: 1, 3 or 5 in practice).
export const MAX_NATS_STREAM_REPLICAS = 5
const NATS_SCHEMES = ['nats', 'tls', 'ws', 'wss']

const Url = (protocols: string) =>
	T.Optional(T.String({ pattern: `^(${protocols})://`, description: `a ${protocols.replaceAll('|', ' or ')} URL` }))

/** The environment gavel reads, as a schema: one definition gives the check and the type. */
const EnvSchema = T.Object({
	PORT: T.Integer({ minimum: 0, maximum: 65535, default: DEFAULT_PORT }),
	HOST: T.String({ minLength: 1, default: '0.0.0.0' }),
	// Set: /metrics only on this port (kept off the public load balancer), the main port answers 404.
	METRICS_PORT: T.Optional(T.Integer({ minimum: 1, maximum: 65535 })),
	DATA_DIR: T.String({ minLength: 1, default: './data' }),
	ROLES: T.String({ pattern: `^(${ROLE_NAMES.join('|')})(,(${ROLE_NAMES.join('|')}))*$`, default: ROLE_NAMES.join(',') }),
	NODE_ENV: T.Union([T.Literal('development'), T.Literal('production'), T.Literal('test')], { default: 'development' }),
	LOG_LEVEL: T.Union(
		['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => T.Literal(l)),
		{ default: 'info' },
	),
	REDIS_URL: Url('redis|rediss'),
	REDIS_CLUSTER_NODES: T.Optional(T.String({ minLength: 1 })),
	// For a cluster whose password comes as a secret of its own (AWS): what a rediss://:password@ seed would say.
	REDIS_PASSWORD: T.Optional(T.String({ minLength: 1 })),
	REDIS_TLS: T.Boolean({ default: false, description: 'true or false' }),
	REDIS_PREFIX: T.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$', default: 'gavel' }),
	// Unset: 1 on a cluster (whose shards have replicas to fail over to), 0 on one node.
	REDIS_WAIT_REPLICAS: T.Optional(T.Integer({ minimum: 0, maximum: 5 })),
	REDIS_WAIT_TIMEOUT_MS: T.Integer({ minimum: 10, maximum: 10_000, default: DEFAULT_REDIS_WAIT_TIMEOUT_MS }),
	// One server or a cluster's seed servers, comma-separated; each entry is checked in natsUrlProblems.
	NATS_URL: T.Optional(T.String()),
	// Unset: a new stream gets 1, an existing one keeps what it has (an operator's change stands).
	NATS_STREAM_REPLICAS: T.Optional(T.Integer({ minimum: 1, maximum: MAX_NATS_STREAM_REPLICAS, description: `a whole number from 1 to ${MAX_NATS_STREAM_REPLICAS}` })),
	NATS_STREAM: T.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', default: 'GAVEL_EVENTS' }),
	// The NATS servers' user (authorization { user, password }); the password comes as a secret of its own.
	NATS_USER: T.Optional(T.String({ minLength: 1 })),
	NATS_PASSWORD: T.Optional(T.String({ minLength: 1 })),
	// The CA the NATS servers' certificates are checked against (TLS then required): a PEM file, or
	// its text for an orchestrator that passes variables, not files (the AWS stack).
	NATS_CA_FILE: T.Optional(T.String({ minLength: 1 })),
	NATS_CA: T.Optional(T.String({ minLength: 1 })),
	NATS_SUBJECT_PREFIX: T.String({ pattern: '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$', default: 'gavel.auction' }),
	DATABASE_URL: Url('postgres|postgresql'),
	// The owner's URL for migrations, so DATABASE_URL can be a role with only the grants gavel needs.
	DATABASE_MIGRATION_URL: Url('postgres|postgresql'),
	// The CA bundle (e.g. RDS's) a DATABASE_URL with sslmode=verify-full is checked against.
	DATABASE_CA_FILE: T.Optional(T.String({ minLength: 1 })),
	NATS_DLQ_STREAM: T.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', default: 'GAVEL_DLQ' }),
	ARCHIVE_CONSUMER: T.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', default: 'gavel-archiver' }),
	ARCHIVE_BATCH_MAX: T.Integer({ minimum: 1, maximum: 10_000, default: DEFAULT_ARCHIVE_BATCH_MAX }),
	ARCHIVE_BATCH_WAIT_MS: T.Optional(T.Integer({ minimum: 0, maximum: 10_000 })),
	ARCHIVE_WRITERS: T.Integer({ minimum: 1, maximum: 8, default: DEFAULT_ARCHIVE_WRITERS }),
	ARCHIVE_ACK_WAIT_MS: T.Integer({ minimum: 1_000, maximum: 600_000, default: DEFAULT_ARCHIVE_ACK_WAIT_MS }),
	ARCHIVE_MAX_DELIVERIES: T.Integer({ minimum: 2, maximum: 1_000, default: DEFAULT_ARCHIVE_MAX_DELIVERIES }),
	REPAIR_GRACE_MS: T.Integer({ minimum: 0, maximum: 3_600_000, default: DEFAULT_REPAIR_GRACE_MS }),
	REPAIR_INTERVAL_MS: T.Integer({ minimum: 10, maximum: 3_600_000, default: DEFAULT_REPAIR_INTERVAL_MS }),
	AUTH_JWT_SECRET: T.Optional(T.String({ minLength: 32, description: 'at least 32 characters' })),
	AUTH_JWKS_URL: Url('https|http'),
	AUTH_ISSUER: T.Optional(T.String({ minLength: 1 })),
	AUTH_AUDIENCE: T.Optional(T.String({ minLength: 1 })),
	RATE_LIMIT_BIDS_PER_SEC: T.Number({ minimum: 0, default: 20 }),
	RATE_LIMIT_BURST: T.Integer({ minimum: 0, default: 40 }),
	RATE_LIMIT_IP_PER_SEC: T.Number({ minimum: 0, default: 100 }),
	RATE_LIMIT_IP_BURST: T.Integer({ minimum: 0, default: 200 }),
	// false, true (one hop), a hop count or CIDRs: read by parseTrustProxy below.
	TRUST_PROXY: T.String({ default: 'false' }),
	MAX_BODY_BYTES: T.Integer({ minimum: 256, maximum: 1024 * 1024, default: DEFAULT_MAX_BODY_BYTES }),
	EVENTS_KEPT: T.Integer({ minimum: 100, maximum: 1_000_000, default: DEFAULT_EVENTS_KEPT }),
	IDEMPOTENCY_MAX_KEYS_PER_BIDDER: T.Integer({ minimum: 1, maximum: 10_000, default: DEFAULT_IDEMPOTENCY_KEYS_PER_BIDDER }),
	// 0: a dependency down at start stops gavel at once (a person at a terminal); > 0 (an orchestrator): it waits that long.
	STARTUP_WAIT_S: T.Integer({ minimum: 0, maximum: 3_600, default: 0 }),
	SHUTDOWN_TIMEOUT_MS: T.Integer({ minimum: 100, maximum: 600_000, default: DEFAULT_SHUTDOWN_TIMEOUT_MS }),
	DURABLE_WAIT_MS: T.Integer({ minimum: 100, maximum: 600_000, default: DEFAULT_DURABLE_WAIT_MS }),
	LIVE_MAX_SUBSCRIPTIONS: T.Integer({ minimum: 1, maximum: 10_000, default: DEFAULT_LIVE_MAX_SUBSCRIPTIONS }),
	LIVE_MAX_FRAME_BYTES: T.Integer({ minimum: 256, maximum: 1024 * 1024, default: DEFAULT_LIVE_MAX_FRAME_BYTES }),
	// Bun's own range: 0 would turn idle closing and pings off, and 1–7 round up to 8.
	LIVE_IDLE_TIMEOUT_S: T.Integer({ minimum: MIN_LIVE_IDLE_TIMEOUT_S, maximum: MAX_LIVE_IDLE_TIMEOUT_S, default: DEFAULT_LIVE_IDLE_TIMEOUT_S }),
	LIVE_DRAIN_SPREAD_MS: T.Integer({ minimum: 0, maximum: 600_000, default: DEFAULT_LIVE_DRAIN_SPREAD_MS }),
	// Bun.serve's keep-alive timeout (its range; 0 keeps idle connections open forever).
	HTTP_IDLE_TIMEOUT_S: T.Integer({ minimum: 0, maximum: MAX_HTTP_IDLE_TIMEOUT_S, default: DEFAULT_HTTP_IDLE_TIMEOUT_S }),
	LIVE_SEND_BUFFER_BYTES: T.Integer({ minimum: 16 * 1024, maximum: 256 * 1024 * 1024, default: DEFAULT_LIVE_SEND_BUFFER_BYTES }),
	LIVE_MAX_SOCKETS_PER_IP: T.Integer({ minimum: 0, maximum: 1_000_000, default: DEFAULT_LIVE_MAX_SOCKETS_PER_IP }),
})
type Env = Static<typeof EnvSchema>

export type Config = Readonly<
	Omit<Env, 'ROLES' | 'TRUST_PROXY'> & {
		roles: ReadonlySet<Role>
		TRUST_PROXY: TrustProxy
		production: boolean
	}
>

export class ConfigError extends Error {
	override name = 'ConfigError'
	constructor(readonly problems: string[]) {
		super(`invalid configuration:\n  ${problems.join('\n  ')}`)
	}
}

/**
 * loadConfig reads the environment once, applies defaults, converts numbers and names every
 * invalid variable in one error, so a bad deployment fails at start instead of at the first bid.
 */
export function loadConfig(env: Record<string, string | undefined> = Bun.env): Config {
	const { value, problems } = readEnv(EnvSchema, env)
	if (typeof value.NATS_URL === 'string') problems.push(...natsUrlProblems(value.NATS_URL))
	const trustProxy = parseTrustProxy(value.TRUST_PROXY)
	if ('problem' in trustProxy) problems.push(`TRUST_PROXY: ${trustProxy.problem}`)
	if (problems.length === 0) {
		const parsed = value
		if (parsed.NODE_ENV === 'production' && !parsed.AUTH_JWT_SECRET && !parsed.AUTH_JWKS_URL)
			problems.push('AUTH_JWT_SECRET or AUTH_JWKS_URL: one is required when NODE_ENV=production')
		if (parsed.AUTH_JWT_SECRET && parsed.AUTH_JWKS_URL)
			problems.push('AUTH_JWT_SECRET and AUTH_JWKS_URL: set one of them, not both')
		// An identity provider's keys sign tokens for every app it serves: in production a token must
		// also name this app (audience) and that provider (issuer), or any of its tokens would do.
		if (parsed.NODE_ENV === 'production' && parsed.AUTH_JWKS_URL) {
			if (!parsed.AUTH_ISSUER) problems.push('AUTH_ISSUER: required with AUTH_JWKS_URL when NODE_ENV=production')
			if (!parsed.AUTH_AUDIENCE) problems.push('AUTH_AUDIENCE: required with AUTH_JWKS_URL when NODE_ENV=production')
		}
		if (parsed.METRICS_PORT !== undefined && parsed.METRICS_PORT === parsed.PORT)
			problems.push(`METRICS_PORT: must differ from PORT (both ${parsed.PORT}); unset it to serve /metrics on PORT`)
		if (Boolean(parsed.NATS_USER) !== Boolean(parsed.NATS_PASSWORD))
			problems.push("NATS_USER and NATS_PASSWORD: set both (the NATS servers' user and its password), or neither")
		else if (parsed.NATS_USER && !parsed.NATS_URL) problems.push('NATS_USER and NATS_PASSWORD go with NATS_URL')
		problems.push(...natsCaProblems(parsed))
		if (parsed.REDIS_URL && parsed.REDIS_CLUSTER_NODES)
			problems.push('REDIS_URL and REDIS_CLUSTER_NODES: set one of them (one node, or the seed nodes of a cluster), not both')
		if (parsed.REDIS_CLUSTER_NODES) {
			const nodes = parseClusterNodes(parsed.REDIS_CLUSTER_NODES)
			if ('problems' in nodes) for (const problem of nodes.problems) problems.push(`REDIS_CLUSTER_NODES: ${problem}`)
			else if (parsed.REDIS_PASSWORD && nodes.nodes.password !== undefined && nodes.nodes.password !== parsed.REDIS_PASSWORD)
				problems.push('REDIS_PASSWORD and the password in REDIS_CLUSTER_NODES differ: give it once')
		} else if (parsed.REDIS_PASSWORD || parsed.REDIS_TLS) {
			problems.push('REDIS_PASSWORD and REDIS_TLS are for REDIS_CLUSTER_NODES; with REDIS_URL say it in the URL (rediss://:password@host:port)')
		}
		if ((parsed.DATABASE_MIGRATION_URL || parsed.DATABASE_CA_FILE) && !parsed.DATABASE_URL)
			problems.push('DATABASE_MIGRATION_URL and DATABASE_CA_FILE go with DATABASE_URL (the Postgres archive)')
		else if (parsed.DATABASE_CA_FILE && !/[?&]sslmode=verify-(full|ca)(&|$)/.test(parsed.DATABASE_URL ?? ''))
			problems.push('DATABASE_CA_FILE: only checked with sslmode=verify-full (or verify-ca) in DATABASE_URL; add it, or the bundle would be ignored')
		// Keys fetched in clear can be swapped on the way: plain http only in development and tests.
		if (parsed.AUTH_JWKS_URL?.startsWith('http://') && parsed.NODE_ENV === 'production')
			problems.push(`AUTH_JWKS_URL: must be https:// when NODE_ENV=production (got ${JSON.stringify(parsed.AUTH_JWKS_URL)})`)
		if (problems.length === 0 && !('problem' in trustProxy)) {
			const { ROLES, ...rest } = parsed
			return Object.freeze({
				...rest,
				TRUST_PROXY: trustProxy,
				roles: new Set(ROLES.split(',') as Role[]),
				production: parsed.NODE_ENV === 'production',
			})
		}
	}
	throw new ConfigError(problems)
}

/** natsCaProblems: one CA at most, with NATS_URL, and a PEM certificate that can be read (not at the first connect). */
function natsCaProblems({ NATS_URL, NATS_CA_FILE, NATS_CA }: Pick<Env, 'NATS_URL' | 'NATS_CA_FILE' | 'NATS_CA'>): string[] {
	if (NATS_CA_FILE === undefined && NATS_CA === undefined) return []
	if (NATS_CA_FILE !== undefined && NATS_CA !== undefined) return ['NATS_CA_FILE and NATS_CA: set one of them (a PEM file, or its text), not both']
	if (!NATS_URL) return ['NATS_CA_FILE and NATS_CA go with NATS_URL']
	if (NATS_CA !== undefined) return pemProblem('NATS_CA', NATS_CA, 'its text')
	let text: string
	try {
		text = readFileSync(NATS_CA_FILE!, 'utf8')
	} catch (err) {
		const { code, message } = err as NodeJS.ErrnoException
		return [`NATS_CA_FILE: cannot read ${JSON.stringify(NATS_CA_FILE)} (${code === 'ENOENT' ? 'no such file' : (code ?? message)})`]
	}
	return pemProblem('NATS_CA_FILE', text, JSON.stringify(NATS_CA_FILE))
}

/** A CA bundle must hold a certificate Node can parse; the first is checked, as a typo shows there. */
function pemProblem(key: string, text: string, what: string): string[] {
	const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0]
	if (!first) return [`${key}: ${what} holds no PEM certificate (-----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----)`]
	try {
		new X509Certificate(first)
		return []
	} catch (err) {
		return [`${key}: the first certificate in ${what} cannot be read (${(err as Error).message})`]
	}
}

/** natsUrlProblems names each entry of NATS_URL's list that is not a nats, tls, ws or wss URL with a host. */
function natsUrlProblems(value: string): string[] {
	const expected = `a ${NATS_SCHEMES.slice(0, -1).join(', ')} or ${NATS_SCHEMES.at(-1)} URL`
	const entries = serverList(value)
	if (entries.length === 1 && !isNatsUrl(entries[0]!)) return [`NATS_URL: expected ${expected}, or a comma-separated list of them (got ${shown(value)})`]
	return entries.flatMap((entry, i) => {
		const which = `NATS_URL: entry ${i + 1} of ${entries.length}`
		if (entry === '') return [`${which} is empty, a stray comma? (got ${shown(value)})`]
		return isNatsUrl(entry) ? [] : [`${which} is not ${expected} (got ${shown(entry)})`]
	})
}

const isNatsUrl = (entry: string) =>
	NATS_SCHEMES.some((scheme) => entry.startsWith(`${scheme}://`)) && URL.canParse(entry) && new URL(entry).hostname !== ''

/** A value for a message, as written but with any password hidden. */
const shown = (value: string) =>
	JSON.stringify(serverList(value).map((entry) => (URL.canParse(entry) && new URL(entry).password ? redactUrl(entry) : entry)).join(','))

/** readEnv picks a schema's variables (blank counts as unset), applies defaults, converts, and names each bad one. */
function readEnv<S extends TObject>(schema: S, env: Record<string, string | undefined>): { value: Static<S>; problems: string[] } {
	const known = Object.fromEntries(
		Object.keys(schema.properties)
			.map((key) => [key, env[key]?.trim()])
			.filter(([, value]) => value !== undefined && value !== ''),
	)
	// A copy: Default and Convert change the object they get, and the check below needs the raw text.
	const value = Value.Convert(schema, Value.Default(schema, { ...known })) as Static<S>
	const problems = [...Value.Errors(schema, value)].map(
		(e) => `${e.path.slice(1) || 'environment'}: ${e.schema.description ?? e.message} (got ${JSON.stringify(e.value)})`,
	)
	// Convert truncates `2.5` and reads `0x10` or `1e3` for an integer: a typo must not become a setting.
	const named = new Set(problems.map((p) => p.slice(0, p.indexOf(':'))))
	for (const [key, raw] of Object.entries(known))
		if (!named.has(key) && (schema.properties[key] as { type?: string }).type === 'integer' && !/^[+-]?\d+$/.test(String(raw)))
			problems.push(`${key}: expected a whole number (got ${JSON.stringify(raw)})`)
	return { value, problems }
}

/**
 * livePingIntervalS is the longest a /live WebSocket stays silent before Bun pings it, for this
 * configuration's LIVE_IDLE_TIMEOUT_S (the relation is in src/ops/timeouts.ts): a load balancer's
 * idle timeout must be above it.
 */
export const livePingIntervalS = (config: Pick<Config, 'LIVE_IDLE_TIMEOUT_S'>) => wsPingIntervalS(config.LIVE_IDLE_TIMEOUT_S)

export const DEFAULT_GAVEL_URL = `http://localhost:${DEFAULT_PORT}`

/** HTTP_URL is an http(s) URL with a host; the CLI's `--url` is checked against it too. */
export const HTTP_URL_PATTERN = '^https?://[^/?#\\s]+[^\\s]*$'

/** The environment the client commands (`gavel auction …`, `bid`, `watch`) read: where gavel is and who you are. */
const ClientEnvSchema = T.Object({
	GAVEL_URL: T.String({ pattern: HTTP_URL_PATTERN, default: DEFAULT_GAVEL_URL, description: 'an http or https URL, e.g. http://localhost:3000' }),
	GAVEL_TOKEN: T.Optional(T.String({ minLength: 1 })),
})
export type ClientConfig = Readonly<Static<typeof ClientEnvSchema>>

/** loadClientConfig reads the client commands' environment; a bad GAVEL_URL is named in a ConfigError. */
export function loadClientConfig(env: Record<string, string | undefined> = Bun.env): ClientConfig {
	const { value, problems } = readEnv(ClientEnvSchema, env)
	if (problems.length > 0) throw new ConfigError(problems)
	return Object.freeze(value)
}
