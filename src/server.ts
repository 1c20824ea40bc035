import { DEFAULT_IDEMPOTENCY_TTL_MS, type Config } from './config.ts'
import { StartupError } from './errors.ts'
import { createApp } from './app.ts'
import { createAuth, signToken } from './auth/tokens.ts'
import { loadOrCreateDevSecret } from './auth/dev-secret.ts'
import { createMemoryBidStore } from './adapters/memory/bid-store.ts'
import { createRedisBidStore } from './adapters/redis/bid-store.ts'
import { connectRedis } from './adapters/redis/connect.ts'
import { createLocalEventBus } from './adapters/local/event-bus.ts'
import { createNatsEventBus } from './adapters/nats/event-bus.ts'
import { createAuctionService } from './modules/auctions/service.ts'
import { createLiveHub } from './modules/live/hub.ts'
import { createBidService } from './modules/bids/service.ts'
import { createPublisher } from './modules/events/publisher.ts'
import { createCloser } from './modules/closer/closer.ts'
import { createRateLimiter } from './modules/limits/rate-limiter.ts'
import { createMetrics } from './observability/metrics.ts'
import { openArchive } from './adapters/open-archive.ts'
import { natsAuthOf, natsTlsOf, startArchiver, type ArchiverHost } from './archive/host.ts'
import { createRepairer } from './archive/repair.ts'
import { createRebuilder } from './archive/rebuild.ts'
import { archiveDrained } from './adapters/nats/archive-drain.ts'
import { StreamSetupError } from './adapters/nats/streams.ts'
import { serverList } from './lib/server-list.ts'
import { withStartupWait } from './lib/startup-wait.ts'
import { startWaitingServer } from './http/waiting-server.ts'
import type { NatsConnection } from '@nats-io/transport-node'
import { createHistoryService } from './modules/history/service.ts'
import type { Logger } from './observability/log.ts'
import { metricsServer, type Dependency } from './modules/ops/index.ts'
import type { BidStore } from './ports/bid-store.ts'
import type { EventBus } from './ports/event-bus.ts'
import packageJson from '../package.json' with { type: 'json' }

/** How long a token from the web page's development sign-in lasts: a working day. */
const DEV_SIGN_IN_TTL_S = 12 * 60 * 60

export interface Gavel {
	/** Where the HTTP API listens, e.g. http://localhost:3000 */
	url: string
	port: number
	adapters: { store: 'redis' | 'memory'; bus: 'nats' | 'local'; archive: 'postgres' | 'sqlite' }
	/** Where the archiver runs in this process, or null without the archiver role. */
	archiver: ArchiverHost['mode'] | null
	/** Whether the HS256 secret is the generated development one (`gavel token` knows it). */
	devSecret: boolean
	/** Graceful stop: no new requests, finish bids in flight, flush the bus, close connections. */
	stop(): Promise<void>
}

/**
 * startGavel is the composition root: configuration in, adapters chosen by it alone (a URL set
 * means the real service, unset means embedded), services and the HTTP app wired, server listening.
 */
export async function startGavel(config: Config, log: Logger): Promise<Gavel> {
	const cleanup: Array<() => Promise<unknown>> = []
	// Under an orchestrator (STARTUP_WAIT_S > 0) the port answers /healthz while gavel waits for
	// Redis and NATS, so the liveness check does not kill a process that would recover by itself.
	let waiting = config.STARTUP_WAIT_S > 0 ? startWaitingServer(config.PORT, config.HOST) : null
	const port = waiting?.port ?? config.PORT
	const connect = <T>(attempt: () => Promise<T>) => withStartupWait(attempt, { waitS: config.STARTUP_WAIT_S, log })
	cleanup.push(async () => {
		await waiting?.stop()
		waiting = null
	})
	try {
		const metrics = createMetrics()
		const secret = config.AUTH_JWKS_URL ? undefined : (config.AUTH_JWT_SECRET ?? (await loadOrCreateDevSecret(config.DATA_DIR)))
		const auth = createAuth({
			secret,
			jwksUrl: config.AUTH_JWKS_URL,
			issuer: config.AUTH_ISSUER,
			audience: config.AUTH_AUDIENCE,
		})

		let store: BidStore
		// One Redis node or a Redis Cluster: the same store either way (docs/design.md §6).
		const redisStore = Boolean(config.REDIS_URL || config.REDIS_CLUSTER_NODES)
		if (redisStore) {
			let shortLoggedAt = 0
			const redis = await connect(() => connectRedis({
				url: config.REDIS_URL,
				clusterNodes: config.REDIS_CLUSTER_NODES,
				password: config.REDIS_PASSWORD,
				tls: config.REDIS_TLS,
				waitReplicas: config.REDIS_WAIT_REPLICAS,
				waitTimeoutMs: config.REDIS_WAIT_TIMEOUT_MS,
				log,
				onShortReplication: (acked, writes) => {
					metrics.unreplicatedWrites.inc(writes)
					if (Date.now() - shortLoggedAt < 10_000) return
					shortLoggedAt = Date.now()
					log.warn({ acked, writes }, 'writes answered before enough Redis replicas held them (REDIS_WAIT_REPLICAS): is a replica down?')
				},
			}))
			cleanup.unshift(() => redis.close())
			store = createRedisBidStore({
				redis: redis.client,
				replication: redis.replication,
				prefix: config.REDIS_PREFIX,
				eventsKept: config.EVENTS_KEPT,
				idempotencyKeysPerBidder: config.IDEMPOTENCY_MAX_KEYS_PER_BIDDER,
			})
		} else {
			store = createMemoryBidStore({ eventsKept: config.EVENTS_KEPT, idempotencyKeysPerBidder: config.IDEMPOTENCY_MAX_KEYS_PER_BIDDER })
		}
		cleanup.unshift(() => store.close())

		let bus: EventBus
		let natsConnection: NatsConnection | null = null
		if (config.NATS_URL) {
			const natsBus = await connect(() =>
				createNatsEventBus({
					log,
					url: config.NATS_URL!,
					auth: natsAuthOf(config),
					tls: natsTlsOf(config),
					stream: config.NATS_STREAM,
					subjectPrefix: config.NATS_SUBJECT_PREFIX,
					replicas: config.NATS_STREAM_REPLICAS,
				}).catch((err: unknown) => {
					throw new StartupError('NATS', serverList(config.NATS_URL!), { cause: err, refused: err instanceof StreamSetupError })
				}),
			)
			natsConnection = natsBus.connection
			bus = natsBus
		} else {
			bus = createLocalEventBus()
		}
		cleanup.unshift(() => bus.close())

		// Read side of the archive (history pages, crash repair); the archiver writes through its own.
		const archive = openArchive({ databaseUrl: config.DATABASE_URL, caFile: config.DATABASE_CA_FILE, dataDir: config.DATA_DIR }, { max: 4 })
		cleanup.unshift(() => archive.close())

		// The archiver: a Worker beside the other roles, this thread when it is the only role.
		let archiver: ArchiverHost | null = null
		if (config.roles.has('archiver')) {
			const alone = config.roles.size === 1
			archiver = startArchiver({ config, log, metrics, bus, inWorker: !alone })
			const host = archiver
			cleanup.unshift(() => host.stop())
			const repairer = createRepairer({
				store,
				bus,
				archive,
				log,
				metrics,
				graceMs: config.REPAIR_GRACE_MS,
				intervalMs: config.REPAIR_INTERVAL_MS,
				// More than a batch behind is a backlog being worked off, not lost events.
				paused: () => !host.health().healthy || host.lag().events > config.ARCHIVE_BATCH_MAX,
			})
			repairer.start()
			cleanup.unshift(() => repairer.stop())
		}

		// The store is a cache of the log: rebuilt from the archive when it has no epoch (a fresh
		// memory store, a Redis restarted empty or flushed), in every process that reads or writes it
		// for people (bids, closes, watchers): each can tell "not back yet" from "no such auction".
		const rebuilder =
			config.roles.has('api') || config.roles.has('closer') || config.roles.has('live')
				? createRebuilder({
						store,
						archive,
						log,
						metrics,
						eventsKept: config.EVENTS_KEPT,
						idempotencyTtlMs: DEFAULT_IDEMPOTENCY_TTL_MS,
						closedKeptMs: redisStore ? REBUILD_CLOSED_KEPT_MS : Number.MAX_SAFE_INTEGER,
						drained: natsConnection
							? () => archiveDrained(natsConnection!, config.NATS_STREAM, config.ARCHIVE_CONSUMER, log, REBUILD_DRAIN_TIMEOUT_MS)
							: undefined,
					})
				: null
		if (rebuilder) {
			// The embedded stack's log is the SQLite file beside it, always there: rebuild before serving.
			// Otherwise the archive may be behind the log or down: serve at once (an auction not back
			// yet answers 503) and rebuild in the background, again each second until it worked.
			if (!natsConnection && archive.kind === 'sqlite') await rebuilder.ensure()
			else void rebuilder.ensure().catch((err: unknown) => log.warn({ err }, 'rebuild failed; trying again'))
			rebuilder.start()
			cleanup.unshift(() => rebuilder.stop())
		}
		const live = config.roles.has('live')
			? createLiveHub({
					store,
					bus,
					metrics,
					log,
					limits: {
						maxSubscriptions: config.LIVE_MAX_SUBSCRIPTIONS,
						maxFrameBytes: config.LIVE_MAX_FRAME_BYTES,
						idleTimeoutS: config.LIVE_IDLE_TIMEOUT_S,
						sendBufferBytes: config.LIVE_SEND_BUFFER_BYTES,
						maxSocketsPerAddress: config.LIVE_MAX_SOCKETS_PER_IP,
					},
					rebuilding: rebuilder ?? undefined,
				})
			: undefined
		const publish = createPublisher({
			bus,
			log,
			metrics,
			// Own events to own watchers before the bus round trip, where the store outlives this process
			// (Redis: crash repair completes what it holds). The memory store dies with it: there the
			// watchers get events from the bus, which hands them over once the log holds them.
			local: live && redisStore ? (auction, json) => live.local(auction, json) : undefined,
		})
		const auctions = createAuctionService({
			store,
			publish,
			metrics,
			archive,
			log,
			durableWaitMs: config.DURABLE_WAIT_MS,
			rebuilding: rebuilder ?? undefined,
		})
		const bidLimiter = createRateLimiter({ perSecond: config.RATE_LIMIT_BIDS_PER_SEC, burst: config.RATE_LIMIT_BURST })
		const ipLimiter = createRateLimiter({ perSecond: config.RATE_LIMIT_IP_PER_SEC, burst: config.RATE_LIMIT_IP_BURST })
		cleanup.unshift(async () => {
			bidLimiter.close()
			ipLimiter.close()
		})
		const bids = createBidService({
			store,
			publish,
			metrics,
			limiter: bidLimiter,
			durableWaitMs: config.DURABLE_WAIT_MS,
			rebuilding: rebuilder ?? undefined,
		})
		const history = createHistoryService({ archive, store })
		// A process that takes bids stays ready while the archive is down (bids do not need it);
		// one that only archives is not. Either waits for the archive's tables to exist first.
		const archiveOptional = config.roles.size > 1 || !config.roles.has('archiver')
		// The generated secret, outside production: the web page may offer "sign in as".
		const devSecret = !config.AUTH_JWT_SECRET && !config.AUTH_JWKS_URL && !config.production ? secret : undefined
		const app = createApp({
			api: config.roles.has('api'),
			devSignIn: devSecret
				? ({ sub, roles }) =>
						signToken(devSecret, { sub, roles, ttlSeconds: DEV_SIGN_IN_TTL_S, issuer: config.AUTH_ISSUER, audience: config.AUTH_AUDIENCE })
				: undefined,
			auctions,
			bids,
			history,
			auth,
			metrics,
			log,
			dependencies: [
				{ name: redisStore ? 'redis' : 'memory', ping: () => store.ping() },
				{ name: config.NATS_URL ? 'nats' : 'local-bus', ping: () => bus.ping() },
				{ name: config.DATABASE_URL ? 'postgres' : 'sqlite', ping: () => archive.ping(), optional: archiveOptional },
				...(archiver
					? [
							{
								name: 'archiver',
								optional: archiveOptional,
								ping: async () => {
									const { healthy, problem } = archiver!.health()
									if (!healthy) throw new Error(problem ?? 'not healthy')
								},
							},
							// The SQLite file was migrated when it was opened above; Postgres waits for the archiver.
							schemaCheck(archiver, archive.kind === 'sqlite' ? Promise.resolve() : archiver.migrated),
						]
					: []),
			],
			live,
			maxBodyBytes: config.MAX_BODY_BYTES,
			ipLimiter,
			trustProxy: config.TRUST_PROXY,
			production: config.production,
			servesMetrics: config.METRICS_PORT === undefined,
			version: packageJson.version,
		})
		if (config.roles.has('closer')) {
			const closer = createCloser({ store, publish, log, metrics })
			closer.start()
			cleanup.unshift(() => closer.stop())
		}

		// Above the load balancer's idle timeout, so it never reuses a connection gavel is closing (src/ops/timeouts.ts).
		if (config.METRICS_PORT !== undefined) {
			const scrape = metricsServer(metrics, config.METRICS_PORT, config.HOST)
			cleanup.unshift(() => scrape.stop())
		}
		// The waiting server hands the port over (the same one, also when PORT=0 picked it).
		await waiting?.stop()
		waiting = null
		app.listen({ port, hostname: config.HOST, idleTimeout: config.HTTP_IDLE_TIMEOUT_S })
		const server = app.server!
		const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? 'localhost' : config.HOST
		let stopping: Promise<void> | null = null
		return {
			url: `http://${host}:${server.port}`,
			port: server.port!,
			adapters: {
				store: redisStore ? 'redis' : 'memory',
				bus: config.NATS_URL ? 'nats' : 'local',
				archive: config.DATABASE_URL ? 'postgres' : 'sqlite',
			},
			archiver: archiver?.mode ?? null,
			devSecret: !config.AUTH_JWT_SECRET && !config.AUTH_JWKS_URL,
			stop() {
				stopping ??= (async () => {
					// Watchers first, told with 1001 over LIVE_DRAIN_SPREAD_MS so they reconnect elsewhere
					// (with `since`) spread out; HTTP still answers meanwhile (docs/design.md §7).
					await live?.close(config.LIVE_DRAIN_SPREAD_MS)
					const stopped = server.stop() // stops accepting; requests in flight finish
					await bids.drain()
					await stopped
					await bus.flush() // every accepted event is on the bus before the archiver flushes
					for (const step of cleanup) await step()
				})()
				return stopping
			},
		}
	} catch (err) {
		for (const step of cleanup) await step().catch(() => {})
		throw err
	}
}

/** Closed auctions a Redis rebuild restores too: a day's worth, for their retries and reads (embedded: all). */
const REBUILD_CLOSED_KEPT_MS = DEFAULT_IDEMPOTENCY_TTL_MS
/** How long a rebuild waits for the archive to catch up with the log before it uses what the archive has. */
const REBUILD_DRAIN_TIMEOUT_MS = 60_000

/** How long a /readyz waits for the archiver's first migration (within the check's 2 s). */
const MIGRATION_WAIT_MS = 1_500

/**
 * schemaCheck keeps a process with the archiver role unready until the archive's migrations are
 * applied: before that, creating an auction cannot check a chosen id against the archive (the
 * query fails and creation goes on) and history has no tables. Required even where the archive
 * itself is optional, but only until then: a schema stays, so a later outage leaves it `ok`.
 */
function schemaCheck(archiver: ArchiverHost, schema: Promise<void>): Dependency {
	let migrated = false
	void schema.then(() => (migrated = true))
	return {
		name: 'archive-schema',
		async ping() {
			if (migrated) return
			// Right after the start the archiver is migrating: a /readyz then waits for it, briefly.
			const done = await Promise.race([schema.then(() => true), Bun.sleep(MIGRATION_WAIT_MS).then(() => false)])
			if (done) return
			const { problem } = archiver.health()
			throw new Error(`the archive's migrations are not applied yet${problem ? ` (${problem})` : ''}`)
		},
	}
}
