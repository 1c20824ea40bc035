import { headers, type NatsConnection } from '@nats-io/transport-node'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import type { ArchiverSettings } from '../../workers/archiver/protocol.ts'
import type { ArchiverReport } from '../../src/observability/metrics.ts'
import { afterAll, beforeAll } from 'bun:test'
import { connectNats, DATABASE_URL, NATS_URL, uniqueName, type TestSchema } from './services.ts'

/** Waits until `predicate` holds, polling; fails with `what` after `ms`. Never a timing assertion. */
export async function until(predicate: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
	const deadline = Date.now() + ms
	while (!(await predicate())) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
		await Bun.sleep(20)
	}
}

/** Archiver settings with a stream, subjects, dead-letter stream and consumer of their own. */
export function testArchiverSettings(overrides: Partial<ArchiverSettings> = {}): ArchiverSettings {
	return {
		databaseUrl: DATABASE_URL,
		dataDir: '/nonexistent',
		natsUrl: NATS_URL,
		stream: uniqueName('GTEST').toUpperCase(),
		subjectPrefix: uniqueName('gtest'),
		dlqStream: uniqueName('GTESTDLQ').toUpperCase(),
		consumer: uniqueName('archiver'),
		batchMax: 1_000,
		batchWaitMs: 5,
		ackWaitMs: 30_000,
		maxDeliveries: 20,
		logLevel: 'silent',
		reportEveryMs: 50,
		...overrides,
	}
}

/** Collects archiver reports and sums them up. */
export function reports() {
	const all: ArchiverReport[] = []
	return {
		all,
		add: (r: ArchiverReport) => void all.push(r),
		get last() {
			return all[all.length - 1]
		},
		get written() {
			return all.reduce((n, r) => n + r.batches.reduce((m, [, w]) => m + w, 0), 0)
		},
		get writeFailures() {
			return all.reduce((n, r) => n + r.writeFailures, 0)
		},
		get seqConflicts() {
			return all.reduce((n, r) => n + r.seqConflicts, 0)
		},
		deadLetters(reason: string) {
			return all.reduce((n, r) => n + (r.deadLetters[reason] ?? 0), 0)
		},
	}
}

/**
 * publishEvents puts event JSON on JetStream the way the bus does (subject per auction,
 * Nats-Msg-Id = event id), a few hundred in flight at a time. `msgIdSuffix` defeats the dedup
 * window, to stage a redelivery that reaches the archive twice.
 */
export async function publishEvents(nc: NatsConnection, subjectPrefix: string, jsons: readonly string[], msgIdSuffix = '') {
	const js = jetstream(nc)
	for (let i = 0; i < jsons.length; i += 500) {
		await Promise.all(
			jsons.slice(i, i + 500).map((json) => {
				const { id, auction } = JSON.parse(json) as { id: string; auction: string }
				return js.publish(`${subjectPrefix}.${auction}`, json, { msgID: id + msgIdSuffix })
			}),
		)
	}
}

/** Raw bytes on an auction's subject, as a broken publisher would send them. */
export async function publishRaw(nc: NatsConnection, subject: string, data: string, msgID = crypto.randomUUID()) {
	await jetstream(nc).publish(subject, data, { msgID, headers: headers() })
}

/** The consumer's own view: undelivered, delivered-not-acked. */
export async function consumerState(nc: NatsConnection, stream: string, consumer: string) {
	const info = await (await jetstreamManager(nc)).consumers.info(stream, consumer)
	return { pending: info.num_pending, ackPending: info.num_ack_pending, redelivered: info.num_redelivered }
}

/** Deletes the test's streams (events and dead letters). */
export async function deleteStreams(nc: NatsConnection, ...names: string[]) {
	const jsm = await jetstreamManager(nc)
	for (const name of names) await jsm.streams.delete(name).catch(() => {})
}

/** Resolves once the archiver has created its stream and consumer (so publishes land). */
export async function untilConsuming(nc: NatsConnection, settings: Pick<ArchiverSettings, 'stream' | 'consumer'>) {
	const jsm = await jetstreamManager(nc)
	await until(
		() =>
			jsm.consumers.info(settings.stream, settings.consumer).then(
				() => true,
				() => false,
			),
		`the archiver's consumer ${settings.consumer}`,
	)
}

/**
 * archiverSuite gives a suite one NATS connection and removes the streams and schemas it
 * registers in `streams` / `schemas` afterwards.
 */
export function archiverSuite() {
	const suite = { nc: null as unknown as NatsConnection, schemas: [] as TestSchema[], streams: [] as string[] }
	beforeAll(async () => {
		suite.nc = await connectNats()
	})
	afterAll(async () => {
		await deleteStreams(suite.nc, ...suite.streams)
		await suite.nc.close()
		for (const s of suite.schemas) await s.drop()
	})
	return suite
}
