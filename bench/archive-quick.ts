#!/usr/bin/env bun
// bench/archive-quick.ts: how fast events go from JetStream into Postgres through the archiver
// Worker, and how long after the last publish everything is archived (docs/design.md §9: within 1 s).
//
//   bun bench/archive-quick.ts [--events 200000] [--auctions 200] [--batch 1000] [--wait-ms 5] [--writers 2] [--json]
//
// Needs NATS (JetStream) and Postgres on loopback (TEST_NATS_URL / TEST_DATABASE_URL override);
// uses a stream, consumer and schema of its own and removes them afterwards. Two runs:
//   live:  the archiver runs while events are published as fast as JetStream takes them;
//          reports the rate and the time from the last publish ack to the last commit.
//   drain: a second archiver (new consumer, empty schema) starts on the full stream: the
//          archive's own rate with no publisher competing for the 2 cores.
import { parseArgs } from 'node:util'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { newEventId } from '../src/events.ts'
import { workerUrl } from '../src/lib/worker-url.ts'
import type { ArchiverReport } from '../src/observability/metrics.ts'
import type { ArchiverSettings, FromArchiver, ToArchiver } from '../workers/archiver/protocol.ts'
import { connectNats, connectPostgres, createTestSchema, NATS_URL, uniqueName } from '../tests/helpers/services.ts'

const { values } = parseArgs({
	args: Bun.argv.slice(2),
	options: {
		events: { type: 'string', default: '200000' },
		auctions: { type: 'string', default: '200' },
		batch: { type: 'string', default: '1000' },
		'wait-ms': { type: 'string', default: '5' },
		writers: { type: 'string', default: '2' },
		json: { type: 'boolean', default: false },
	},
})
const EVENTS = Number(values.events)
const AUCTIONS = Number(values.auctions)
const T0 = Date.now()

/** Interleaved events of AUCTIONS auctions with dense seqs, like concurrent bidding. */
function makeEvents(): string[] {
	const out: string[] = []
	const seqs = new Array<number>(AUCTIONS).fill(0)
	for (let i = 0; i < EVENTS; i++) {
		const a = i % AUCTIONS
		const auction = `bench-${a}`
		const seq = seqs[a]!++
		out.push(
			seq === 0
				? JSON.stringify({ id: newEventId(), type: 'auction.created', auction, seq, at: T0, title: 'Lamp', sellerId: 'sam', currency: 'USD', startingPrice: 100, increment: 10, buyNowPrice: null, softCloseMs: 0, startsAt: T0, endsAt: T0 + 3_600_000, maxEndsAt: T0 + 7_200_000, reserveMet: true })
				: JSON.stringify({ id: newEventId(), type: 'bid.placed', auction, seq, at: T0 + seq, bidder: `u${seq % 97}`, amount: 100 + seq * 10, price: 100 + seq * 10, leader: `u${seq % 97}`, proxy: false, endsAt: T0 + 3_600_000, reserveMet: true }),
		)
	}
	return out
}

async function publish(nc: NatsConnection, prefix: string, events: string[]) {
	const js = jetstream(nc)
	const IN_FLIGHT = 2_000
	for (let i = 0; i < events.length; i += IN_FLIGHT)
		await Promise.all(
			events.slice(i, i + IN_FLIGHT).map((json) => {
				const auction = json.slice(json.indexOf('"auction":"') + 11, json.indexOf('","seq"'))
				return js.publish(`${prefix}.${auction}`, json, { msgID: json.slice(7, 43) })
			}),
		)
}

/** Starts the archiver Worker; resolves `done` when `expected` events are written. */
function startWorker(settings: ArchiverSettings, expected: number) {
	const worker = new Worker(workerUrl('workers/archiver/index.ts'))
	let written = 0
	const batches: number[] = []
	const seconds: number[] = []
	let firstCommitAt = 0
	let writtenAtFirst = 0
	let resolveDone: (at: number) => void
	const done = new Promise<number>((resolve) => (resolveDone = resolve))
	worker.onmessage = (e: MessageEvent<FromArchiver>) => {
		if (e.data.type !== 'report') return
		const r: ArchiverReport = e.data.report
		for (const [size, w, sec] of r.batches) {
			batches.push(size)
			seconds.push(sec)
			written += w
		}
		if (written > 0 && !firstCommitAt) {
			firstCommitAt = performance.now()
			writtenAtFirst = written
		}
		if (written >= expected) resolveDone(performance.now())
	}
	worker.postMessage({ type: 'start', config: settings } satisfies ToArchiver)
	return {
		done,
		batches,
		seconds,
		/** Events/s from the first commit on (the Worker's start-up and connections excluded). */
		rateSinceFirstCommit(at: number) {
			return (expected - writtenAtFirst) / ((at - firstCommitAt) / 1000)
		},
		async stop() {
			const stopped = new Promise<void>((resolve) => {
				worker.addEventListener('message', (e: MessageEvent<FromArchiver>) => e.data.type === 'stopped' && resolve())
			})
			worker.postMessage({ type: 'stop' } satisfies ToArchiver)
			await stopped
			worker.terminate()
		},
	}
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
const nc = await connectNats()
const jsm = await jetstreamManager(nc)
const schemas = [await createTestSchema(), await createTestSchema()]
const stream = uniqueName('BENCH').toUpperCase()
const prefix = uniqueName('bench')
const base = (schema: string, consumer: string): ArchiverSettings => ({
	databaseUrl: schema,
	dataDir: '/nonexistent',
	natsUrl: NATS_URL,
	stream,
	subjectPrefix: prefix,
	dlqStream: `${stream}_DLQ`,
	consumer,
	batchMax: Number(values.batch),
	batchWaitMs: Number(values['wait-ms']),
	writers: Number(values.writers),
	ackWaitMs: 30_000,
	maxDeliveries: 20,
	logLevel: 'warn',
	reportEveryMs: 5,
})

try {
	const events = makeEvents()
	console.log(`archive-quick: ${fmt(EVENTS)} events over ${AUCTIONS} auctions, batch ≤ ${values.batch}, wait ${values['wait-ms']} ms, ${values.writers} writers`)

	// live: archive while publishing
	const live = startWorker(base(schemas[0]!.url, 'live'), EVENTS)
	while (!(await jsm.consumers.info(stream, 'live').then(() => true, () => false))) await Bun.sleep(10)
	const started = performance.now()
	await publish(nc, prefix, events)
	const published = performance.now()
	const archived = await live.done
	await live.stop()
	const avgBatch = live.batches.reduce((a, b) => a + b, 0) / live.batches.length
	console.log(`live:  published ${fmt(EVENTS / ((published - started) / 1000))} events/s; archived ${fmt(EVENTS / ((archived - started) / 1000))} events/s`)
	console.log(`       last publish ack → everything archived: ${fmt(Math.max(0, archived - published))} ms (avg batch ${fmt(avgBatch)})`)

	// drain: the whole stream as a backlog
	const drain = startWorker(base(schemas[1]!.url, 'drain'), EVENTS)
	const drained = await drain.done
	const rate = drain.rateSinceFirstCommit(drained)
	await drain.stop()
	const writeMs = (drain.seconds.reduce((a, b) => a + b, 0) / drain.seconds.length) * 1000
	console.log(`drain: ${fmt(rate)} events/s into Postgres from a backlog (avg batch ${fmt(drain.batches.reduce((a, b) => a + b, 0) / drain.batches.length)}, avg write ${writeMs.toFixed(1)} ms)`)

	const sql = await connectPostgres(schemas[1]!.url)
	const [row] = await sql`select count(*) as n, count(distinct event_id) as ids from bid_events`
	console.log(`check: ${row!.n} rows, ${row!.ids} distinct ids (expected ${EVENTS})`)
	await sql.end()
	if (values.json)
		console.log(
			JSON.stringify({
				archive: {
					events: EVENTS,
					publishedPerSecond: Math.round(EVENTS / ((published - started) / 1000)),
					archivedPerSecondLive: Math.round(EVENTS / ((archived - started) / 1000)),
					lastPublishToArchivedMs: Math.round(Math.max(0, archived - published)),
					drainPerSecond: Math.round(rate),
					rows: Number(row!.n),
					distinctIds: Number(row!.ids),
				},
			}),
		)
} finally {
	await jsm.streams.delete(stream).catch(() => {})
	await jsm.streams.delete(`${stream}_DLQ`).catch(() => {})
	await nc.close()
	for (const s of schemas) await s.drop()
}
