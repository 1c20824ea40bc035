import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { loadConfig } from '../../src/config.ts'
import { startGavel, type Gavel } from '../../src/server.ts'
import { signToken } from '../../src/auth/tokens.ts'
import { createClient } from '../../src/client/index.ts'
import { silentLogger } from '../../src/observability/log.ts'
import { connectNats, connectRedis, deleteKeys, NATS_URL, REDIS_URL, uniqueName } from './services.ts'

export const TEST_SECRET = 'test-secret-test-secret-test-secret-0123456789'

export interface TestGavel {
	gavel: Gavel
	url: string
	env: Record<string, string>
	token(sub: string, roles?: string[], ttlSeconds?: number): Promise<string>
	client(token?: string): ReturnType<typeof createClient>
	stop(): Promise<void>
}

/**
 * startTestGavel runs a real, listening gavel on a free port. `real: true` uses Redis and NATS
 * with a key prefix and stream of its own, removed again by `stop()`.
 */
export async function startTestGavel({ real = false, env = {} }: { real?: boolean; env?: Record<string, string> } = {}): Promise<TestGavel> {
	const dataDir = await mkdtemp(join(tmpdir(), 'gavel-test-'))
	const full: Record<string, string> = {
		PORT: '0',
		HOST: '127.0.0.1',
		DATA_DIR: dataDir,
		NODE_ENV: 'test',
		LOG_LEVEL: 'silent',
		AUTH_JWT_SECRET: TEST_SECRET,
		...(real
			? {
					REDIS_URL,
					REDIS_PREFIX: uniqueName(),
					NATS_URL,
					NATS_STREAM: uniqueName('GTEST').toUpperCase(),
					NATS_SUBJECT_PREFIX: uniqueName('gtest'),
				}
			: {}),
		...env,
	}
	const gavel = await startGavel(loadConfig(full), silentLogger())
	return {
		gavel,
		url: gavel.url,
		env: full,
		token: (sub, roles = [], ttlSeconds = 600) => signToken(full.AUTH_JWT_SECRET!, { sub, roles, ttlSeconds }),
		client: (token) => createClient(gavel.url, { token }),
		async stop() {
			await gavel.stop()
			await rm(dataDir, { recursive: true, force: true })
			if (full.REDIS_URL) {
				const redis = await connectRedis()
				await deleteKeys(redis, full.REDIS_PREFIX!)
				await redis.quit()
			}
			if (full.NATS_URL) {
				const nc = await connectNats()
				await (await jetstreamManager(nc)).streams.delete(full.NATS_STREAM!).catch(() => {})
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
