import Redis from 'ioredis'
import { createRedisBidStore } from '../../src/adapters/redis/bid-store.ts'
import { createNatsEventBus } from '../../src/adapters/nats/event-bus.ts'
import { createPostgresArchive } from '../../src/adapters/postgres/archive.ts'
import { silentLogger } from '../../src/observability/log.ts'
import { runArchiver } from '../../workers/archiver/run.ts'
import { repairContract } from '../contract/repair.ts'
import { deleteStreams, testArchiverSettings, untilConsuming } from '../helpers/archive.ts'
import { connectNats, connectRedis, createTestSchema, deleteKeys, uniqueName } from '../helpers/services.ts'

// The production stack: a Lua-committed bid whose publish never happened, repaired through
// JetStream into Postgres.
repairContract('Redis store, NATS JetStream, Postgres', async () => {
	const redis: Redis = await connectRedis()
	const prefix = uniqueName()
	const store = createRedisBidStore({ redis, prefix })
	const schema = await createTestSchema()
	const settings = testArchiverSettings({ databaseUrl: schema.url })
	const bus = await createNatsEventBus({ url: settings.natsUrl!, stream: settings.stream, subjectPrefix: settings.subjectPrefix, log: silentLogger() })
	const archiver = runArchiver(settings, { log: silentLogger(), report: () => {} })
	const nc = await connectNats()
	await untilConsuming(nc, settings)
	const archive = createPostgresArchive({ url: schema.url })
	// The archiver migrates in the background; the contract reads the archive at once.
	await archive.migrate()
	return {
		store,
		bus,
		archive,
		async cleanup() {
			await archiver.stop()
			await archive.close()
			await bus.close()
			await deleteStreams(nc, settings.stream, settings.dlqStream)
			await nc.close()
			await deleteKeys(redis, prefix)
			await redis.quit()
			await schema.drop()
		},
	}
})
