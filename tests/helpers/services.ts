import Redis from 'ioredis'
import postgres, { type Sql } from 'postgres'
import { connect, type NatsConnection } from '@nats-io/transport-node'

/**
 * The integration suites need the real services at their loopback defaults (override with
 * TEST_REDIS_URL / TEST_NATS_URL / TEST_DATABASE_URL). A missing one fails loudly with what to
 * start: never a skip.
 */
export const REDIS_URL = Bun.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
export const NATS_URL = Bun.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222'
export const DATABASE_URL = Bun.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

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

export async function connectPostgres(url = DATABASE_URL): Promise<Sql> {
	const sql = postgres(url, { max: 2, connect_timeout: 3, onnotice: () => {} })
	try {
		await sql`select 1`
	} catch (err) {
		await sql.end({ timeout: 1 }).catch(() => {})
		throw new Error(`PostgreSQL is not reachable at ${url} (database "test", trust auth): ${hint}`, { cause: err })
	}
	return sql
}

export interface TestSchema {
	name: string
	/** DATABASE_URL whose connections use this schema (search_path as a connection parameter). */
	url: string
	drop(): Promise<void>
}

/**
 * createTestSchema makes an empty schema `gtest_<uuid>` for one suite, so runs never see each
 * other's tables; drop() removes it with everything in it.
 */
export async function createTestSchema(): Promise<TestSchema> {
	const sql = await connectPostgres()
	const name = uniqueName('gtest')
	await sql.unsafe(`create schema ${name}`)
	const url = new URL(DATABASE_URL)
	url.searchParams.set('search_path', name)
	return {
		name,
		url: url.toString(),
		async drop() {
			await sql.unsafe(`drop schema if exists ${name} cascade`)
			await sql.end({ timeout: 5 })
		},
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
