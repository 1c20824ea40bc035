import { afterAll, expect, test } from 'bun:test'
import { jetstreamManager } from '@nats-io/jetstream'
import { createNatsEventBus } from '../../src/adapters/nats/event-bus.ts'
import { silentLogger } from '../../src/observability/log.ts'
import { newEventId } from '../../src/events.ts'
import { busContract } from '../contract/event-bus.ts'
import { connectNats, NATS_URL, uniqueName } from '../helpers/services.ts'

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

test('a closed bus refuses to publish', async () => {
	const bus = await makeBus()
	await bus.close()
	expect(bus.publish('a1', newEventId(), '{}')).rejects.toThrow('closed')
})
