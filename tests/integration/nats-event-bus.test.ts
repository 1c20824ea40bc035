import { afterAll, expect, test } from 'bun:test'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { createNatsEventBus } from '../../src/adapters/nats/event-bus.ts'
import { createAckedPublisher } from '../../src/adapters/nats/acked-publisher.ts'
import { StreamSetupError } from '../../src/adapters/nats/streams.ts'
import { silentLogger } from '../../src/observability/log.ts'
import { newEventId } from '../../src/events.ts'
import { busContract } from '../contract/event-bus.ts'
import { connectNats, NATS_URL, uniqueName } from '../helpers/services.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'
import { eventually } from '../helpers/wait.ts'

const admin = await connectNats()
const jsm = await jetstreamManager(admin)
const streams: string[] = []
afterAll(async () => {
	for (const s of streams) await jsm.streams.delete(s).catch(() => {})
	await admin.close()
})

async function makeBus() {
	const stream = uniqueName('GTEST').toUpperCase()
	streams.push(stream)
	const bus = await createNatsEventBus({ url: NATS_URL, stream, subjectPrefix: uniqueName('gtest'), log: silentLogger() })
	return bus
}

busContract('nats', async () => {
	const bus = await makeBus()
	return { bus, cleanup: () => bus.close() }
})

test('JetStream stores each event once: a re-sent event id is dropped by the dedup window', async () => {
	const bus = await makeBus()
	const id = newEventId()
	const json = JSON.stringify({ id, type: 'bid.placed', auction: 'a1', seq: 1 })
	await bus.publish('a1', id, json)
	await bus.publish('a1', id, json)
	const other = newEventId()
	await bus.publish('a1', other, JSON.stringify({ id: other, type: 'bid.placed', auction: 'a1', seq: 2 }))
	const info = await jsm.streams.info(bus.stream)
	expect(info.state.messages).toBe(2)
	expect(info.config.subjects).toEqual([`${bus.subjectPrefix}.>`])
	await bus.close()
})

test('starting again with a changed stream config updates the stream instead of failing', async () => {
	const first = await makeBus()
	await first.close()
	const stream = first.stream
	const again = await createNatsEventBus({ url: NATS_URL, stream, subjectPrefix: first.subjectPrefix, log: silentLogger(), maxAgeMs: 300_000 })
	expect((await jsm.streams.info(stream)).config.max_age).toBe(300_000 * 1_000_000)
	await again.close()
})

test('more than one replica on a NATS without a cluster refuses to start, and leaves an existing stream as it was', async () => {
	const stream = uniqueName('GTEST').toUpperCase()
	streams.push(stream)
	const subjectPrefix = uniqueName('gtest')
	const tryReplicas = (replicas: number) =>
		createNatsEventBus({ url: NATS_URL, stream, subjectPrefix, replicas, log: silentLogger() }).then(
			() => null,
			(err: unknown) => err as Error,
		)
	const refused = await tryReplicas(3)
	expect(refused).toBeInstanceOf(StreamSetupError)
	expect(refused?.message).toContain('replicas > 1 not supported in non-clustered mode')
	expect(refused?.message).toContain('NATS_STREAM_REPLICAS=1')
	expect(await jsm.streams.info(stream).catch(() => null)).toBeNull()
	// The server would accept 3 for an existing stream and keep one copy: refused before the update.
	const bus = await createNatsEventBus({ url: NATS_URL, stream, subjectPrefix, log: silentLogger() })
	await bus.close()
	expect((await tryReplicas(3))?.message).toContain('without a cluster')
	expect((await jsm.streams.info(stream)).config.num_replicas).toBe(1)
})

test('NATS_URL as a list: the bus connects through any server of it', async () => {
	const stream = uniqueName('GTEST').toUpperCase()
	streams.push(stream)
	// The first entry has nothing listening: the client moves on to the next.
	const bus = await createNatsEventBus({ url: `nats://127.0.0.1:1, ${NATS_URL}`, stream, subjectPrefix: uniqueName('gtest'), log: silentLogger() })
	try {
		const id = newEventId()
		await bus.publish('a1', id, JSON.stringify({ id, type: 'bid.placed', auction: 'a1', seq: 1 }))
		expect((await jsm.streams.info(stream)).state.messages).toBe(1)
	} finally {
		await bus.close()
	}
})

test('a closed bus refuses to publish', async () => {
	const bus = await makeBus()
	await bus.close()
	expect(bus.publish('a1', newEventId(), '{}')).rejects.toThrow('closed')
})

test('after the connection drops and comes back, resume listeners are told (deliveries in between may be missing)', async () => {
	const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(NATS_URL).port || 4222) })
	const stream = uniqueName('GTEST').toUpperCase()
	streams.push(stream)
	const bus = await createNatsEventBus({ url: `nats://127.0.0.1:${proxy.port}`, stream, subjectPrefix: uniqueName('gtest'), log: silentLogger() })
	let resumed = 0
	const stop = bus.onResume(() => resumed++)
	try {
		await proxy.close()
		await Bun.sleep(300)
		await proxy.open()
		await eventually(() => resumed === 1, 'the resume notice', 10_000)
		stop()
	} finally {
		await bus.close()
		await proxy.close()
	}
})

test('the acked publisher resolves on the PubAck and rejects at once when no stream takes the subject', async () => {
	const stream = uniqueName('GTEST').toUpperCase()
	streams.push(stream)
	const prefix = uniqueName('gtest')
	await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`] })
	// A timeout longer than the test's: a refusal must come from the server's answer, not the clock.
	const publisher = createAckedPublisher(admin, { timeoutMs: 120_000 })
	try {
		const id = newEventId()
		await publisher.publish(`${prefix}.a1`, id, '{"x":1}')
		await publisher.publish(`${prefix}.a1`, id, '{"x":1}') // a retry: stored once
		expect((await jsm.streams.info(stream)).state.messages).toBe(1)
		const refused = await publisher.publish(`${uniqueName('nostream')}.a1`, newEventId(), '{}').then(() => null, (err: Error) => err)
		expect(refused?.message).toContain('503')
	} finally {
		publisher.close()
	}
})

test('the acked publisher sends what waits for a PubAck again as soon as the connection is back, in order, not after its timeout', async () => {
	const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(NATS_URL).port || 4222) })
	const stream = uniqueName('GTEST').toUpperCase()
	streams.push(stream)
	const prefix = uniqueName('gtest')
	await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`] })
	const nc = await connect({ servers: `nats://127.0.0.1:${proxy.port}`, maxReconnectAttempts: -1, reconnectTimeWait: 50 })
	// A PubAck timeout far beyond the test's: only a re-send on reconnect can settle these.
	const publisher = createAckedPublisher(nc, { timeoutMs: 600_000 })
	try {
		await publisher.publish(`${prefix}.a1`, newEventId(), '{"n":0}')
		await proxy.close() // the connection drops: nats.js throws away what it buffers meanwhile
		const ids = [newEventId(), newEventId(), newEventId()]
		let settled = 0
		const publishes = ids.map((id, i) => publisher.publish(`${prefix}.a1`, id, `{"n":${i + 1}}`).then(() => void settled++))
		await Bun.sleep(100)
		expect(settled).toBe(0)
		await proxy.open()
		await eventually(() => settled === ids.length, 'the PubAcks of the re-sent events', 10_000)
		await Promise.all(publishes)
		expect(publisher.pending()).toBe(0)
		const stored = await Promise.all([2, 3, 4].map((seq) => jsm.streams.getMessage(stream, { seq })))
		expect(stored.map((m) => m?.header.get('Nats-Msg-Id'))).toEqual(ids)
		expect((await jsm.streams.info(stream)).state.messages).toBe(4)
	} finally {
		publisher.close()
		await nc.close()
		await proxy.close()
	}
})
