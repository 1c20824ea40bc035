import { expect, test } from 'bun:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Sql } from 'postgres'
import type { FromArchiver, ToArchiver } from '../../workers/archiver/protocol.ts'
import { auctionEvents } from '../contract/archive.ts'
import { archiverSuite, publishEvents, testArchiverSettings, until, untilConsuming } from '../helpers/archive.ts'
import { connectPostgres, createTestSchema } from '../helpers/services.ts'
import { baseTestEnv } from '../helpers/gavel.ts'

const suite = archiverSuite()
const { schemas, streams } = suite

/** Events of `auctions` auctions, `perAuction` each, interleaved as concurrent bidding does. */
function interleaved(auctions: number, perAuction: number): string[] {
	const lists = Array.from({ length: auctions }, () => {
		const a = auctionEvents()
		return [a.created().json, ...Array.from({ length: perAuction - 1 }, (_, i) => a.bid(`u${i % 5}`, 1000 + i).json)]
	})
	const out: string[] = []
	for (let i = 0; i < perAuction; i++) for (const l of lists) out.push(l[i]!)
	return out
}

async function archiveState(sql: Sql) {
	const [row] = await sql`
		select (select count(*) from bid_events) as events, (select count(distinct event_id) from bid_events) as ids,
			(select count(*) from auctions where event_count <> last_seq + 1) as holed,
			(select coalesce(sum(event_count), 0) from auctions) as counted`
	return { events: Number(row!.events), ids: Number(row!.ids), holed: Number(row!.holed), counted: Number(row!.counted) }
}

const countOf = (sql: Sql) => async () => {
	try {
		return (await archiveState(sql)).events
	} catch {
		return 0
	}
}

test('the archiver Worker terminated mid-stream and started again: every event once, no gap', async () => {
	const schema = await createTestSchema()
	schemas.push(schema)
	const settings = testArchiverSettings({ databaseUrl: schema.url, ackWaitMs: 1_000, batchMax: 500 })
	streams.push(settings.stream, settings.dlqStream)
	const sql = await connectPostgres(schema.url)
	const count = countOf(sql)
	const startWorker = () => {
		const worker = new Worker(new URL('../../workers/archiver/index.ts', import.meta.url))
		worker.postMessage({ type: 'start', config: settings } satisfies ToArchiver)
		return worker
	}
	const events = interleaved(40, 500) // 20,000

	const first = startWorker()
	await untilConsuming(suite.nc, settings)
	await publishEvents(suite.nc, settings.subjectPrefix, events.slice(0, 10_000))
	await until(async () => (await count()) >= 2_000, 'the first worker archiving')
	first.terminate() // mid-stream: batches in flight, messages delivered and not acked
	const atKill = await count()
	expect(atKill).toBeLessThan(events.length)
	await publishEvents(suite.nc, settings.subjectPrefix, events.slice(10_000))

	const second = startWorker()
	await until(async () => (await count()) === events.length, 'all 20,000 archived by the second worker', 60_000)
	expect(await archiveState(sql)).toEqual({ events: 20_000, ids: 20_000, holed: 0, counted: 20_000 })

	const stopped = new Promise<FromArchiver>((resolve) => {
		second.onmessage = (e: MessageEvent<FromArchiver>) => {
			if (e.data.type === 'stopped') resolve(e.data)
		}
	})
	second.postMessage({ type: 'stop' } satisfies ToArchiver)
	expect(await stopped).toMatchObject({ type: 'stopped' })
	second.terminate()
	await sql.end()
}, 90_000)

test('an archiver-only process (ROLES=archiver) killed with SIGKILL and started again: every event once, no gap', async () => {
	const schema = await createTestSchema()
	schemas.push(schema)
	const settings = testArchiverSettings({ databaseUrl: schema.url })
	streams.push(settings.stream, settings.dlqStream)
	const dataDir = await mkdtemp(join(tmpdir(), 'gavel-archiver-'))
	const sql = await connectPostgres(schema.url)
	const count = countOf(sql)
	const env = {
		...process.env,
		...baseTestEnv(dataDir),
		ROLES: 'archiver',
		NATS_URL: settings.natsUrl!,
		NATS_STREAM: settings.stream,
		NATS_SUBJECT_PREFIX: settings.subjectPrefix,
		NATS_DLQ_STREAM: settings.dlqStream,
		ARCHIVE_CONSUMER: settings.consumer,
		ARCHIVE_ACK_WAIT_MS: '1000',
		DATABASE_URL: schema.url,
	}
	const spawn = () =>
		Bun.spawn([process.execPath, 'src/cli/main.ts', 'serve'], { cwd: join(import.meta.dir, '../..'), env, stdout: 'ignore', stderr: 'ignore' })
	const events = interleaved(20, 500) // 10,000

	try {
		const first = spawn()
		await untilConsuming(suite.nc, settings)
		await publishEvents(suite.nc, settings.subjectPrefix, events.slice(0, 5_000))
		await until(async () => (await count()) >= 1_000, 'the first process archiving')
		first.kill('SIGKILL')
		await first.exited
		await publishEvents(suite.nc, settings.subjectPrefix, events.slice(5_000))

		const second = spawn()
		await until(async () => (await count()) === events.length, 'all 10,000 archived by the second process', 60_000)
		expect(await archiveState(sql)).toEqual({ events: 10_000, ids: 10_000, holed: 0, counted: 10_000 })
		second.kill('SIGTERM')
		expect(await second.exited).toBe(0) // a graceful stop
	} finally {
		await sql.end()
		await rm(dataDir, { recursive: true, force: true })
	}
}, 90_000)
