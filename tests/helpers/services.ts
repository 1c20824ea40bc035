import Redis from 'ioredis'
import { connect, type NatsConnection } from '@nats-io/transport-node'

/**
 * The integration suites need the real services at their loopback defaults (override with
 * TEST_REDIS_URL / TEST_NATS_URL). A missing one fails loudly with what to start: never a skip.
 */
export const REDIS_URL = Bun.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
export const NATS_URL = Bun.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222'

const hint = 'start it (see .ci/run), or `docker compose up -d redis nats postgres`'

export async function connectRedis(): Promise<Redis> {
	const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null })
	try {
		await redis.connect()
	} catch (err) {
		throw new Error(`Redis is not reachable at ${REDIS_URL}: ${hint}`, { cause: err })
	}
	return redis
}

export async function connectNats(): Promise<NatsConnection> {
	try {
		return await connect({ servers: NATS_URL, timeout: 3000 })
	} catch (err) {
		throw new Error(`NATS is not reachable at ${NATS_URL}: ${hint}`, { cause: err })
	}
}

/** A name no other test run uses: `gtest_<uuid>`-style, safe for keys, streams and subjects. */
export const uniqueName = (prefix = 'gtest') => `${prefix}_${crypto.randomUUID().replaceAll('-', '')}`

/** Deletes every key under a prefix (SCAN, not KEYS, so a busy shared Redis stays responsive). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
	let cursor = '0'
	do {
		const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
		cursor = next
		if (keys.length > 0) await redis.del(...keys)
	} while (cursor !== '0')
}
