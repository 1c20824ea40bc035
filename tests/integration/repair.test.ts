import { expect, test } from 'bun:test'
import Redis from 'ioredis'
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream'
import { createRedisBidStore } from '../../src/adapters/redis/bid-store.ts'
import { createNatsEventBus } from '../../src/adapters/nats/event-bus.ts'
import { createPostgresArchive } from '../../src/adapters/postgres/archive.ts'
import { createRepairer } from '../../src/archive/repair.ts'
import { newAuction } from '../../src/domain/new-auction.ts'
import { auctionCreated } from '../../src/events.ts'
import { createMetrics } from '../../src/observability/metrics.ts'
import { silentLogger } from '../../src/observability/log.ts'
import { isDense } from '../../src/ports/archive.ts'
import { eventIdOf } from '../../src/ports/event-bus.ts'
import { runArchiver, type RunningArchiver } from '../../workers/archiver/run.ts'
import { repairContract } from '../contract/repair.ts'
import { deleteStreams, testArchiverSettings, until, untilConsuming } from '../helpers/archive.ts'
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

test('an event that reached the stream but not the archive (its archiver died holding it) is written into the archive and counted once', async () => {
	const redis: Redis = await connectRedis()
	const prefix = uniqueName()
	const store = createRedisBidStore({ redis, prefix })
	const schema = await createTestSchema()
	// JetStream hands the held events to another archiver only after this long: far beyond the test.
	const settings = testArchiverSettings({ databaseUrl: schema.url, ackWaitMs: 600_000 })
	const bus = await createNatsEventBus({ url: settings.natsUrl!, stream: settings.stream, subjectPrefix: settings.subjectPrefix, log: silentLogger() })
	const nc = await connectNats()
	const jsm = await jetstreamManager(nc)
	const archive = createPostgresArchive({ url: schema.url })
	await archive.migrate()
	let archiver: RunningArchiver | null = null
	try {
		// The archiver that is killed: it takes every event from the shared consumer and never acks one.
		await jsm.consumers.add(settings.stream, {
			durable_name: settings.consumer,
			ack_policy: AckPolicy.Explicit,
			deliver_policy: DeliverPolicy.All,
			ack_wait: settings.ackWaitMs * 1_000_000,
			max_deliver: -1,
		})
		const record = newAuction({ id: uniqueName('held'), title: 'Lamp', startingPrice: 1000, increment: 100, endsAt: Date.now() + 600_000 }, 'sam', Date.now())
		const events = [JSON.stringify(auctionCreated(record))]
		await store.createAuction(record, events[0]!)
		for (const [bidder, amount] of [['bob', 1000], ['carol', 1100]] as const) events.push(...(await store.placeBid({ auction: record.id, bidder, amount })).events)
		for (const json of events) await bus.publish(record.id, eventIdOf(json), json) // each stored in the stream
		const held = await (await jetstream(nc).consumers.get(settings.stream, settings.consumer)).fetch({ max_messages: events.length, expires: 2_000 })
		let taken = 0
		for await (const _ of held) if (++taken === events.length) break
		expect(taken).toBe(events.length)
		// Its replacement runs, but JetStream will not hand it the held events before the ack wait.
		archiver = runArchiver(settings, { log: silentLogger(), report: () => {} })

		let t = 0
		const metrics = createMetrics()
		const repairer = createRepairer({ store, bus, archive, log: silentLogger(), metrics, graceMs: 1_000, intervalMs: 1_000, now: () => t })
		await repairer.tick() // suspected: the archive has nothing of it
		t = 1_000
		expect(await repairer.tick()).toMatchObject({ repaired: 3 })
		const progress = (await archive.progress([record.id]))[0]
		expect(progress && isDense(progress) && progress.lastSeq === 2).toBe(true)
		const archived = (await archive.events(record.id, -1, 10)).map((e) => e.json)
		expect(archived).toEqual(events)
		expect((await metrics.repaired.get()).values[0]?.value).toBe(3)
		// The stream kept each event once, and gained the store's current state record beside them.
		const subjects = (await jsm.streams.info(settings.stream, { subjects_filter: '>' })).state.subjects ?? {}
		expect(subjects[`${settings.subjectPrefix}.${record.id}`]).toBe(3)
		await until(async () => ((await jsm.streams.info(settings.stream, { subjects_filter: '>' })).state.subjects ?? {})[`${settings.subjectPrefix}.${record.id}.state`] === 1, 'the state record re-published')
		const [restorable] = await archive.restorables({ after: '', limit: 1, eventsKept: 10, answersSince: 0, closedSince: 0, ids: [record.id] })
		expect(restorable?.state).toMatchObject({ rev: 2, record: { seq: 2, price: 1100, leader: 'carol' } })
		t = 3_000
		await repairer.tick()
		t = 5_000
		expect(await repairer.tick()).toMatchObject({ repaired: 0 }) // nothing left to repair, nothing counted
		expect((await metrics.repaired.get()).values[0]?.value).toBe(3)
	} finally {
		await archiver?.stop()
		await archive.close()
		await bus.close()
		await deleteStreams(nc, settings.stream, settings.dlqStream)
		await nc.close()
		await deleteKeys(redis, prefix)
		await redis.quit()
		await schema.drop()
	}
})
