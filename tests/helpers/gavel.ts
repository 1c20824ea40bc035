import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { loadConfig } from '../../src/config.ts'
import { startGavel, type Gavel } from '../../src/server.ts'
import { signToken } from '../../src/auth/tokens.ts'
import { readDevSecret } from '../../src/auth/dev-secret.ts'
import { createClient } from '../../src/client/index.ts'
import { silentLogger } from '../../src/observability/log.ts'
import { connectNats, connectRedis, createTestSchema, deleteKeys, NATS_URL, REDIS_URL, uniqueName, type TestSchema } from './services.ts'

export const TEST_SECRET = 'test-secret-test-secret-test-secret-0123456789'

export interface TestGavel {
	gavel: Gavel
	url: string
	env: Record<string, string>
	token(sub: string, roles?: string[], ttlSeconds?: number): Promise<string>
	client(token?: string): ReturnType<typeof createClient>
	stop(): Promise<void>
}

export interface TestGavelOptions {
	/** Redis and NATS, with a key prefix and streams of its own. */
	real?: boolean
	/** Postgres as the archive, in a schema of its own. */
	postgres?: boolean
	/** Reuse a data dir (it is then kept at stop), e.g. to restart on the same embedded archive. */
	dataDir?: string
	env?: Record<string, string>
	/** No AUTH_JWT_SECRET: gavel generates its development secret (and offers the web page's "sign in as"). */
	devSecret?: boolean
}

/**
 * startTestGavel runs a real, listening gavel on a free port. `real: true` uses Redis and NATS,
 * `postgres: true` a Postgres archive; whatever it creates there is removed again by `stop()`.
 */
/** The environment every test gavel starts from: any free port, silent, the test secret. */
export const baseTestEnv = (dataDir: string): Record<string, string> => ({
	PORT: '0',
	HOST: '127.0.0.1',
	DATA_DIR: dataDir,
	NODE_ENV: 'test',
	LOG_LEVEL: 'silent',
	AUTH_JWT_SECRET: TEST_SECRET,
	// A test that stops with watchers open need not wait for their spread-out goodbye (tests/e2e/drain.test.ts does).
	LIVE_DRAIN_SPREAD_MS: '0',
})

export async function startTestGavel({ real = false, postgres = false, dataDir: keptDir, env = {}, devSecret = false }: TestGavelOptions = {}): Promise<TestGavel> {
	const dataDir = keptDir ?? (await mkdtemp(join(tmpdir(), 'gavel-test-')))
	const schema: TestSchema | null = postgres ? await createTestSchema() : null
	const full: Record<string, string> = {
		...baseTestEnv(dataDir),
		...(real
			? {
					REDIS_URL,
					REDIS_PREFIX: uniqueName(),
					NATS_URL,
					NATS_STREAM: uniqueName('GTEST').toUpperCase(),
					NATS_SUBJECT_PREFIX: uniqueName('gtest'),
					NATS_DLQ_STREAM: uniqueName('GTESTDLQ').toUpperCase(),
				}
			: {}),
		...(schema ? { DATABASE_URL: schema.url } : {}),
		...env,
	}
	if (devSecret) delete full.AUTH_JWT_SECRET
	const gavel = await startGavel(loadConfig(full), silentLogger())
	const secret = full.AUTH_JWT_SECRET ?? (await readDevSecret(dataDir))!
	return {
		gavel,
		url: gavel.url,
		env: full,
		token: (sub, roles = [], ttlSeconds = 600) => signToken(secret, { sub, roles, ttlSeconds }),
		client: (token) => createClient(gavel.url, { token }),
		async stop() {
			await gavel.stop()
			if (!keptDir) await rm(dataDir, { recursive: true, force: true })
			await schema?.drop()
			if (full.REDIS_URL) {
				const redis = await connectRedis()
				await deleteKeys(redis, full.REDIS_PREFIX!)
				await redis.quit()
			}
			if (full.NATS_URL) {
				const nc = await connectNats()
				const jsm = await jetstreamManager(nc)
				await jsm.streams.delete(full.NATS_STREAM!).catch(() => {})
				if (full.NATS_DLQ_STREAM) await jsm.streams.delete(full.NATS_DLQ_STREAM).catch(() => {})
				await nc.close()
			}
		},
	}
}

/** A valid auction body ending in ten minutes. */
export const auctionBody = (overrides: Record<string, unknown> = {}) => ({
	title: 'Brass lamp',
	startingPrice: 1000,
	increment: 100,
	endsAt: Date.now() + 600_000,
	...overrides,
})
