import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { createNatsEventBus } from '../../src/adapters/nats/event-bus.ts'
import { createJetStreamLogSource } from '../../src/adapters/nats/log-source.ts'
import { StreamSetupError } from '../../src/adapters/nats/streams.ts'
import { silentLogger, type Logger } from '../../src/observability/log.ts'
import { newEventId } from '../../src/events.ts'
import type { LogSource } from '../../src/ports/log-source.ts'
import { startNatsCluster, type LocalNatsCluster, type NatsClusterNode } from '../../bench/cluster/nats-cluster.ts'
import { uniqueName } from '../helpers/services.ts'
import { eventually } from '../helpers/wait.ts'

/**
 * gavel on a three-node NATS cluster of its own (docs/design.md §3, §6): replicated stream and
 * consumer, an R1 stream raised in place, and the durability promise while a node is SIGKILLed.
 */

let dir: string
let cluster: LocalNatsCluster
let admin: NatsConnection
let jsm: JetStreamManager
const streams: string[] = []

beforeAll(async () => {
	dir = await mkdtemp(join(tmpdir(), 'gavel-nats-cluster-'))
	cluster = await startNatsCluster({ dir, startTimeoutMs: 25_000 }) // healthy when it resolves
	admin = await connect({ servers: cluster.nodes.map((n) => n.url), maxReconnectAttempts: -1, reconnectTimeWait: 100 })
	jsm = await jetstreamManager(admin)
}, 30_000)

afterAll(async () => {
	for (const s of streams) await jsm?.streams.delete(s).catch(() => {})
	await admin?.close()
	await cluster?.stop() // removes its dir
	if (dir) await rm(dir, { recursive: true, force: true })
}, 30_000)

const names = () => {
	const stream = uniqueName('GTEST').toUpperCase()
	const dlqStream = `${stream}_DLQ`
	streams.push(stream, dlqStream)
	return { stream, dlqStream, subjectPrefix: uniqueName('gtest'), consumer: uniqueName('archiver') }
}

/** A logger that keeps its warnings, so a test can read what an operator would see. */
function recordingLogger(): { log: Logger; lines: string[] } {
	const lines: string[] = []
	return { log: pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) }), lines }
}

const eventJson = (auction: string, id: string, seq: number) => JSON.stringify({ id, type: 'bid.placed', auction, seq })

/** Waits until the stream has a leader and `followers` followers that caught up with it. */
async function replicated(stream: string, followers: number, ms = 15_000): Promise<void> {
	const deadline = Date.now() + ms
	for (;;) {
		const info = await jsm.streams.info(stream).catch(() => null)
		const peers = info?.cluster?.replicas ?? []
		if (info?.cluster?.leader && peers.length === followers && peers.every((p) => p.current)) return
		if (Date.now() > deadline) throw new Error(`stream ${stream} did not get ${followers} current followers within ${ms} ms`)
		await Bun.sleep(100)
	}
}

/** Every Nats-Msg-Id the stream holds, in order. */
async function storedIds(stream: string): Promise<string[]> {
	const { state } = await jsm.streams.info(stream)
	const ids: string[] = []
	for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
		const m = await jsm.streams.getMessage(stream, { seq })
		if (m) ids.push(m.header.get('Nats-Msg-Id'))
	}
	return ids
}

/** A running log source that records the event ids it was given (acking each, as the archiver does after its commit). */
function consume(options: Omit<Parameters<typeof createJetStreamLogSource>[0], 'log' | 'ackWaitMs' | 'batchMax'>) {
	const taken = new Set<string>()
	const source: LogSource = createJetStreamLogSource({ ...options, ackWaitMs: 2_000, batchMax: 10, log: silentLogger() })
	source.start({
		take(m) {
			taken.add((JSON.parse(m.json) as { id: string }).id)
			m.ack()
		},
		problem() {},
		deadLettered() {},
	})
	return {
		taken,
		async stop() {
			await source.stop()
			await source.close()
		},
	}
}

const nodeNamed = (name: string | undefined): NatsClusterNode => {
	const node = cluster.nodes.find((n) => n.name === name)
	if (!node) throw new Error(`no cluster node named ${name}`)
	return node
}

/** SIGKILLs a node, runs `meanwhile`, then starts it again and waits until the cluster is whole. */
async function withNodeDown(node: NatsClusterNode, meanwhile: () => Promise<void>) {
	await cluster.kill(node, 'SIGKILL')
	try {
		await meanwhile()
	} finally {
		await cluster.restart(node)
		await cluster.waitHealthy(20_000)
	}
}

describe('NATS cluster', () => {
	test('NATS_STREAM_REPLICAS=3: an R3 events stream, an R3 dead-letter stream and an R3 archivers’ consumer', async () => {
		const { stream, dlqStream, subjectPrefix, consumer } = names()
		const bus = await createNatsEventBus({ url: cluster.url, stream, subjectPrefix, replicas: 3, log: silentLogger() })
		const archiver = consume({ natsUrl: cluster.url, stream, subjectPrefix, consumer, dlqStream, replicas: 3 })
		try {
			const id = newEventId()
			await bus.publish('a1', id, eventJson('a1', id, 1))
			await eventually(() => archiver.taken.has(id), 'the archiver to take the event', 10_000)
			expect((await jsm.streams.info(stream)).config.num_replicas).toBe(3)
			await replicated(stream, 2)
			expect((await jsm.streams.info(dlqStream)).config.num_replicas).toBe(3)
			const consumerInfo = await jsm.consumers.info(stream, consumer)
			expect(consumerInfo.config.num_replicas).toBe(3)
			expect(consumerInfo.cluster?.replicas).toHaveLength(2)
		} finally {
			await archiver.stop()
			await bus.close()
		}
	}, 20_000)

	test('an existing R1 stream is raised to R3 in place (messages kept); unset keeps it; more than the cluster has is a warning', async () => {
		const { stream, subjectPrefix } = names()
		const first = await createNatsEventBus({ url: cluster.url, stream, subjectPrefix, log: silentLogger() })
		const ids = Array.from({ length: 5 }, () => newEventId())
		await Promise.all(ids.map((id, i) => first.publish('a1', id, eventJson('a1', id, i + 1))))
		await first.close()
		expect((await jsm.streams.info(stream)).config.num_replicas).toBe(1) // unset: a new stream gets 1

		const raised = await createNatsEventBus({ url: cluster.url, stream, subjectPrefix, replicas: 3, log: silentLogger() })
		await raised.close()
		const info = await jsm.streams.info(stream)
		expect(info.config.num_replicas).toBe(3)
		await replicated(stream, 2) // the two new replicas copied what the stream held
		expect((await jsm.streams.info(stream)).state.messages).toBe(5)
		expect(await storedIds(stream)).toEqual(ids)

		// NATS_STREAM_REPLICAS unset leaves a count an operator (or an earlier start) chose.
		const unset = await createNatsEventBus({ url: cluster.url, stream, subjectPrefix, log: silentLogger() })
		await unset.close()
		expect((await jsm.streams.info(stream)).config.num_replicas).toBe(3)

		// Five replicas on three nodes: JetStream refuses; gavel says so and goes on with three.
		const { log, lines } = recordingLogger()
		const tooMany = await createNatsEventBus({ url: cluster.url, stream, subjectPrefix, replicas: 5, log })
		await tooMany.close()
		expect((await jsm.streams.info(stream)).config.num_replicas).toBe(3)
		expect(lines.join('\n')).toContain(`JetStream refused 5 replicas for stream ${stream}`)
		expect((await jsm.streams.info(stream)).state.messages).toBe(5)

		// A new stream cannot go on with anything: it does not start.
		const fresh = names()
		const refused = await createNatsEventBus({ url: cluster.url, ...fresh, replicas: 5, log: silentLogger() }).then(
			() => null,
			(err: unknown) => err,
		)
		expect(refused).toBeInstanceOf(StreamSetupError)
		expect((refused as Error).message).toContain(`JetStream cannot create stream ${fresh.stream} with 5 replicas`)
	}, 20_000)

	test('every publish is acked, and stored once, while the stream leader the bus is connected to is SIGKILLed', async () => {
		const { stream, subjectPrefix } = names()
		const setup = await createNatsEventBus({ url: cluster.url, stream, subjectPrefix, replicas: 3, log: silentLogger() })
		await setup.close()
		const leader = nodeNamed((await jsm.streams.info(stream)).cluster?.leader)
		// Seeded with the leader alone: the client learns the other servers from the cluster.
		const bus = await createNatsEventBus({ url: leader.url, stream, subjectPrefix, replicas: 3, log: silentLogger() })
		let resumed = 0
		bus.onResume(() => resumed++)
		const ids = Array.from({ length: 150 }, () => newEventId())
		let acked = 0
		const publishes: Promise<void>[] = []
		let killed: Promise<void> | null = null
		try {
			// A steady stream of publishes, a few every 20 ms; once the first third is stored the
			// leader is killed, and the rest go out while the client reconnects and a leader is elected.
			for (const [i, id] of ids.entries()) {
				if (i === 50) {
					await Promise.all(publishes)
					killed = cluster.kill(leader, 'SIGKILL')
				}
				publishes.push(bus.publish(`a${i % 5}`, id, eventJson(`a${i % 5}`, id, i)).then(() => void acked++))
				if (i % 5 === 4) await Bun.sleep(20)
			}
			await eventually(() => acked === ids.length, 'every publish to be acked', 25_000)
			await Promise.all(publishes)
			expect(resumed).toBeGreaterThanOrEqual(1) // live subscribers were told to re-sync
			const stored = await storedIds(stream)
			expect(stored).toHaveLength(ids.length)
			expect(new Set(stored)).toEqual(new Set(ids))
		} finally {
			await bus.close()
			if (killed) {
				await killed
				await cluster.restart(leader)
				await cluster.waitHealthy(20_000)
			}
		}
	}, 40_000)

	test('the archivers’ log source goes on consuming when its node, the consumer leader, dies', async () => {
		const { stream, dlqStream, subjectPrefix, consumer } = names()
		const bus = await createNatsEventBus({ url: cluster.url, stream, subjectPrefix, replicas: 3, log: silentLogger() })
		const options = { stream, dlqStream, subjectPrefix, consumer, replicas: 3 }
		// A first archiver creates the consumer; the next is seeded with its leader's address alone.
		const creator = consume({ natsUrl: cluster.url, ...options })
		const before = [newEventId()]
		await bus.publish('a1', before[0]!, eventJson('a1', before[0]!, 1))
		await eventually(() => creator.taken.has(before[0]!), 'the first archiver to take an event', 10_000)
		await creator.stop()
		const leader = nodeNamed((await jsm.consumers.info(stream, consumer)).cluster?.leader)
		const archiver = consume({ natsUrl: leader.url, ...options })
		try {
			const ids = Array.from({ length: 40 }, () => newEventId())
			await Promise.all(ids.slice(0, 20).map((id, i) => bus.publish('a1', id, eventJson('a1', id, i + 2))))
			await eventually(() => ids.slice(0, 20).every((id) => archiver.taken.has(id)), 'the archiver to take the first half', 10_000)
			await withNodeDown(leader, async () => {
				await Promise.all(ids.slice(20).map((id, i) => bus.publish('a1', id, eventJson('a1', id, i + 22))))
				await eventually(() => ids.every((id) => archiver.taken.has(id)), 'the archiver to take the second half on another node', 25_000)
			})
			expect((await jsm.consumers.info(stream, consumer)).num_ack_pending).toBe(0)
		} finally {
			await archiver.stop()
			await bus.close()
		}
	}, 40_000)
})
