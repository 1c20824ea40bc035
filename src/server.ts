import Redis from 'ioredis'
import type { Config } from './config.ts'
import { createApp } from './app.ts'
import { createAuth } from './auth/tokens.ts'
import { devSecret } from './auth/dev-secret.ts'
import { createMemoryBidStore } from './adapters/memory/bid-store.ts'
import { createRedisBidStore } from './adapters/redis/bid-store.ts'
import { createLocalEventBus } from './adapters/local/event-bus.ts'
import { createNatsEventBus } from './adapters/nats/event-bus.ts'
import { createAuctionService } from './modules/auctions/service.ts'
import { createLiveHub } from './modules/live/hub.ts'
import { createBidService } from './modules/bids/service.ts'
import { createPublisher } from './modules/events/publisher.ts'
import { createMetrics } from './observability/metrics.ts'
import type { Logger } from './observability/log.ts'
import type { BidStore } from './ports/bid-store.ts'
import type { EventBus } from './ports/event-bus.ts'
import packageJson from '../package.json' with { type: 'json' }

export interface Gavel {
	/** Where the HTTP API listens, e.g. http://localhost:3000 */
	url: string
	port: number
	adapters: { store: 'redis' | 'memory'; bus: 'nats' | 'local' }
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
	try {
		const metrics = createMetrics()
		const secret = config.AUTH_JWKS_URL ? undefined : (config.AUTH_JWT_SECRET ?? (await devSecret(config.DATA_DIR)))
		const auth = createAuth({
			secret,
			jwksUrl: config.AUTH_JWKS_URL,
			issuer: config.AUTH_ISSUER,
			audience: config.AUTH_AUDIENCE,
		})

		let store: BidStore
		if (config.REDIS_URL) {
			// Auto-pipelining batches concurrent bids' EVALSHAs into one write per tick.
			const redis = new Redis(config.REDIS_URL, { enableAutoPipelining: true, lazyConnect: true, maxRetriesPerRequest: 2 })
			await redis.connect()
			cleanup.unshift(() => redis.quit())
			store = createRedisBidStore({
				redis,
				prefix: config.REDIS_PREFIX,
				eventsKept: config.EVENTS_KEPT,
			})
		} else {
			store = createMemoryBidStore({ eventsKept: config.EVENTS_KEPT })
		}
		cleanup.unshift(() => store.close())

		let bus: EventBus
		if (config.NATS_URL) {
			bus = await createNatsEventBus({
				url: config.NATS_URL,
				stream: config.NATS_STREAM,
				subjectPrefix: config.NATS_SUBJECT_PREFIX,
				log,
			})
		} else {
			bus = createLocalEventBus()
		}
		cleanup.unshift(() => bus.close())

		const publish = createPublisher({ bus, log, metrics })
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
					},
				})
			: undefined
		const auctions = createAuctionService({ store, publish, metrics })
		const bids = createBidService({ store, publish, metrics })
		const app = createApp({
			auctions,
			bids,
			auth,
			metrics,
			log,
			dependencies: [
				{ name: config.REDIS_URL ? 'redis' : 'memory', ping: () => store.ping() },
				{ name: config.NATS_URL ? 'nats' : 'local-bus', ping: () => bus.ping() },
			],
			live,
			maxBodyBytes: config.MAX_BODY_BYTES,
			production: config.production,
			version: packageJson.version,
		})
		for (const role of config.roles)
			if (role === 'archiver' || role === 'closer') log.warn({ role }, 'role not available in this version yet; skipped')

		app.listen({ port: config.PORT, hostname: config.HOST })
		const server = app.server!
		const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? 'localhost' : config.HOST
		let stopping: Promise<void> | null = null
		return {
			url: `http://${host}:${server.port}`,
			port: server.port!,
			adapters: { store: config.REDIS_URL ? 'redis' : 'memory', bus: config.NATS_URL ? 'nats' : 'local' },
			devSecret: !config.AUTH_JWT_SECRET && !config.AUTH_JWKS_URL,
			stop() {
				stopping ??= (async () => {
					const stopped = server.stop() // stops accepting; requests in flight finish
					live?.close() // watchers get 1001 and reconnect elsewhere with `since`
					await bids.drain()
					await stopped
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
