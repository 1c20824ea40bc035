import { afterEach, expect, test } from 'bun:test'
import type { Server } from 'bun'
import { createMemoryBidStore } from '../../src/adapters/memory/bid-store.ts'
import { newAuction } from '../../src/domain/new-auction.ts'
import { auctionCreated } from '../../src/events.ts'
import { createMetrics } from '../../src/observability/metrics.ts'
import { silentLogger } from '../../src/observability/log.ts'
import { createLiveHub, type LiveConnection } from '../../src/modules/live/hub.ts'
import type { BidStore } from '../../src/ports/bid-store.ts'
import type { EventBus, EventPayload } from '../../src/ports/event-bus.ts'
import { eventually, liveUrl, openLive, type LiveClient } from '../helpers/ws.ts'

/**
 * The hub against a bus the test delivers by hand, so the races of a real bus can be staged
 * exactly: an event committed before the replay read but delivered after it, an event
 * delivered while the read is in flight, an auction that stays quiet.
 */
function fakeBus() {
	const handlers = new Map<string, (payload: EventPayload) => void>()
	const resumed = new Set<() => void>()
	// Only what the hub uses; the cast keeps this fake valid when the port grows.
	const used: Pick<EventBus, 'publish' | 'subscribe' | 'onResume' | 'flush' | 'ping' | 'close'> = {
		publish: async () => {},
		subscribe(auction, onEvent) {
			handlers.set(auction, onEvent)
			return () => void handlers.delete(auction)
		},
		onResume(listener) {
			resumed.add(listener)
			return () => void resumed.delete(listener)
		},
		flush: async () => {},
		ping: async () => {},
		close: async () => {},
	}
	const bus = used as EventBus
	return {
		bus,
		deliver: (auction: string, json: string) => handlers.get(auction)?.(new TextEncoder().encode(json)),
		handlers,
		/** The bus reconnects after an outage in which `deliver` was never called. */
		resume: () => resumed.forEach((listener) => listener()),
	}
}

/** A store whose replay reads can be held until the test lets them go. */
function gatedStore(store: BidStore) {
	let gate: Promise<void> | null = null
	let open = () => {}
	const counts = { reads: 0 }
	return {
		counts,
		store: {
			...store,
			async eventsSince(id: string, since: number) {
				counts.reads++
				const result = await store.eventsSince(id, since)
				if (gate) await gate
				return result
			},
		} satisfies BidStore,
		hold() {
			gate = new Promise((resolve) => (open = resolve))
		},
		release() {
			gate = null
			open()
		},
	}
}

let stops: Array<() => unknown> = []
afterEach(async () => {
	for (const stop of stops) await stop()
	stops = []
})

async function setup({ gapWaitMs = 1_000, eventsKept, lost }: { gapWaitMs?: number; eventsKept?: number; lost?: () => boolean } = {}) {
	const memory = createMemoryBidStore({ eventsKept })
	const gated = gatedStore(memory)
	const { bus, deliver, handlers, resume } = fakeBus()
	const hub = createLiveHub({
		store: gated.store,
		bus,
		metrics: createMetrics(),
		log: silentLogger(),
		limits: { maxSubscriptions: 10, maxFrameBytes: 4096, idleTimeoutS: 120, sendBufferBytes: 1 << 20, maxSocketsPerAddress: 0 },
		gapWaitMs,
		rebuilding: lost ? { lost: async () => lost() } : undefined,
	})
	const server: Server<LiveConnection> = Bun.serve<LiveConnection>({
		hostname: '127.0.0.1',
		port: 0,
		fetch: (req, srv) => {
			const refused = hub.upgrade(req, srv, Object.fromEntries(new URL(req.url).searchParams), 'test')
			return refused ? Response.json(refused.toJSON(), { status: refused.status }) : undefined
		},
		websocket: {
			...hub.websocket,
			open: (ws) => ws.data.open(ws),
			message: (ws, m) => ws.data.message(ws, m),
			drain: (ws) => ws.data.drain(ws),
			close: (ws, code, reason) => ws.data.close(ws, code, reason),
		},
	})
	const clients: LiveClient[] = []
	stops.push(() => {
		for (const c of clients) c.close()
		hub.close()
		return server.stop(true)
	})
	const t0 = Date.now()
	const prices = new Map<string, number>()
	for (const id of ['a1', 'a2', 'a3']) {
		const record = newAuction({ id, title: 'lamp', startingPrice: 100, increment: 10, endsAt: t0 + 600_000 }, 'sam', t0)
		await memory.createAuction(record, JSON.stringify(auctionCreated(record)))
		prices.set(id, 90)
	}
	/** Commits a bid in the store and returns its event JSON, not yet on the bus. */
	const commit = async (auction = 'a1') => {
		const price = prices.get(auction)! + 10
		prices.set(auction, price)
		const placed = await memory.placeBid({ auction, bidder: price % 20 ? 'bob' : 'carol', amount: price })
		return placed.events[0]!
	}
	const connect = async (query: Record<string, string | number>) => {
		const c = await openLive(liveUrl(`http://127.0.0.1:${server.port}`, query))
		clients.push(c)
		return c
	}
	return { hub, gated, deliver, handlers, resume, commit, connect }
}

test('an event committed before the replay read but delivered after it reaches the watcher once', async () => {
	const { commit, deliver, connect, handlers } = await setup()
	for (let i = 0; i < 3; i++) await commit() // went out before anyone listened here
	const late = await commit() // seq 4: committed, still on its way over the bus
	const c = await connect({ auction: 'a1', since: 2 })
	await eventually(() => c.events().length === 2, 'the replay')
	expect(c.frames[0]).toMatchObject({ type: 'subscribed', seq: 4 })
	expect(handlers.has('a1')).toBe(true)
	deliver('a1', late)
	deliver('a1', await commit()) // seq 5, live
	await eventually(() => c.events().length === 3, 'the live event')
	expect(c.seqs()).toEqual([3, 4, 5])
})

test('events delivered while the replay read is in flight follow the replay, each once', async () => {
	const { commit, deliver, connect, gated } = await setup()
	await commit()
	gated.hold()
	const c = await connect({ auction: 'a1', since: 0 })
	const during = [await commit(), await commit()] // seq 2 and 3: the held read already has 1 only
	await Bun.sleep(10)
	for (const json of during) deliver('a1', json)
	deliver('a1', during[0]!) // a bus retry: the same event again
	gated.release()
	await eventually(() => c.events().length === 3, 'replay and backlog')
	deliver('a1', await commit())
	await eventually(() => c.events().length === 4, 'the live event')
	expect(c.seqs()).toEqual([1, 2, 3, 4])
})

test('an event published before anyone listened here is not waited for: the next one reaches every watcher', async () => {
	const { commit, deliver, connect, hub } = await setup({ gapWaitMs: 20 })
	await commit() // the bus will never bring seq 1 here
	const c = await connect({ auction: 'a1' })
	await c.next((f) => f.type === 'subscribed', 'subscribed')
	await Bun.sleep(60)
	const second = await connect({ auction: 'a1' })
	await second.next((f) => f.type === 'subscribed', 'subscribed')
	deliver('a1', await commit())
	await eventually(() => c.events().length === 1 && second.events().length === 1, 'the next event at both')
	expect(c.seqs()).toEqual([2])
	expect(second.seqs()).toEqual([2])
	expect(hub.stats()).toEqual({ sockets: 2, auctions: 1 })
})

test('the bus subscription lives exactly as long as the auction has local watchers', async () => {
	const { connect, handlers, hub } = await setup()
	const a = await connect({ auction: 'a1' })
	const b = await connect({ auction: 'a1' })
	await a.next((f) => f.type === 'subscribed', 'a subscribed')
	await b.next((f) => f.type === 'subscribed', 'b subscribed')
	expect(handlers.has('a1')).toBe(true)
	a.send({ op: 'unsubscribe', auction: 'a1' })
	await a.next((f) => f.type === 'unsubscribed', 'a unsubscribed')
	expect(handlers.has('a1')).toBe(true)
	b.close()
	await eventually(() => !handlers.has('a1'), 'the bus subscription to end')
	expect(hub.stats()).toEqual({ sockets: 1, auctions: 0 })
})

test("this process's own events go out at once, and their bus copies (and retries) are dropped", async () => {
	const { hub, commit, deliver, connect } = await setup()
	const c = await connect({ auction: 'a1' })
	await eventually(() => c.frames.length === 1, 'subscribed')
	const own = [await commit(), await commit()]
	for (const json of own) hub.local('a1', json) // before the bus round trip
	await eventually(() => c.events().length === 2, 'the local events')
	for (const json of own) deliver('a1', json) // the bus brings them back
	deliver('a1', own[0]!) // and a retry
	const other = await commit() // committed by another instance: only the bus has it
	deliver('a1', other)
	await eventually(() => c.events().length === 3, "the other instance's event")
	await Bun.sleep(20)
	expect(c.seqs()).toEqual([1, 2, 3])
	hub.local('no-watchers', own[0]!) // an auction nobody watches here: nothing happens
})

test('after a bus outage the hub re-reads what its watchers missed, once each', async () => {
	const { commit, deliver, resume, connect } = await setup()
	const c = await connect({ auction: 'a1' })
	await eventually(() => c.frames.length === 1, 'subscribed')
	deliver('a1', await commit()) // seq 1 arrives live
	await eventually(() => c.events().length === 1, 'the live event')
	const lost = [await commit(), await commit()] // seq 2 and 3 committed while the bus was down
	resume()
	await eventually(() => c.events().length === 3, 'the events lost in the outage')
	for (const json of lost) deliver('a1', json) // a late copy after all: dropped
	deliver('a1', await commit())
	await eventually(() => c.events().length === 4, 'the next live event')
	await Bun.sleep(20)
	expect(c.seqs()).toEqual([1, 2, 3, 4])
})

test('subscribing again while the read is out costs at most one more read, and is answered once from the last since', async () => {
	const { commit, deliver, connect, gated } = await setup()
	for (let i = 0; i < 5; i++) await commit()
	gated.hold()
	const c = await connect({ auction: 'a1', since: 0 })
	for (let i = 0; i < 150; i++) c.send({ op: 'subscribe', auction: 'a1', since: 0 })
	c.send({ op: 'subscribe', auction: 'a1', since: 3 })
	c.send({ op: 'unsubscribe', auction: 'other' }) // answered at once: every op before it was handled
	await c.next((f) => f.type === 'unsubscribed', 'the ops to be handled')
	gated.release()
	await eventually(() => c.events().length === 2, 'the replay from 3')
	deliver('a1', await commit())
	await eventually(() => c.events().length === 3, 'the live event')
	await Bun.sleep(20)
	expect(c.frames.filter((f) => f.type === 'subscribed')).toHaveLength(1)
	expect(c.seqs()).toEqual([4, 5, 6])
	expect(gated.counts.reads).toBe(2)
})

test('subscribing again on a live socket re-syncs it from the new since, then live events follow once', async () => {
	const { commit, deliver, connect } = await setup()
	const c = await connect({ auction: 'a1', since: 0 })
	await c.next((f) => f.type === 'subscribed', 'subscribed')
	for (let i = 0; i < 3; i++) deliver('a1', await commit())
	await eventually(() => c.events().length === 3, 'three live events')
	c.send({ op: 'subscribe', auction: 'a1', since: 1 }) // what watch() does to fill a gap
	await c.next((f) => f.type === 'subscribed', 'the second subscribed', 4)
	await eventually(() => c.events().length === 5, 'the replay after 1')
	deliver('a1', await commit())
	await eventually(() => c.events().length === 6, 'the next live event')
	await Bun.sleep(20)
	expect(c.seqs()).toEqual([1, 2, 3, 2, 3, 4])
	expect(c.frames[4]).toMatchObject({ type: 'subscribed', seq: 3 })
})

test('after a bus outage, live events that arrive before an auction is re-read wait for it: every auction dense and in order', async () => {
	const { commit, deliver, resume, connect, gated } = await setup()
	const auctions = ['a1', 'a2', 'a3']
	const c = await connect({})
	for (const auction of auctions) {
		c.send({ op: 'subscribe', auction })
		await c.next((f) => f.type === 'subscribed' && f.auction === auction, `${auction} subscribed`)
	}
	for (const auction of auctions) deliver(auction, await commit(auction)) // seq 1 arrives live
	await eventually(() => auctions.every((a) => c.events(a).length === 1), 'the live events')
	for (const auction of auctions) for (let i = 0; i < 2; i++) await commit(auction) // seq 2 and 3 lost in the outage
	gated.hold() // the re-reads after the outage take a while
	resume()
	// The bus is back: new events arrive live before any auction's re-read is done.
	for (const auction of auctions) deliver(auction, await commit(auction)) // seq 4
	await Bun.sleep(20)
	gated.release()
	await eventually(() => auctions.every((a) => c.events(a).length >= 4), 'every event of every auction', 3_000)
	for (const auction of auctions) deliver(auction, await commit(auction)) // seq 5, live again
	await eventually(() => auctions.every((a) => c.events(a).length >= 5), 'the next live events')
	await Bun.sleep(20)
	for (const auction of auctions) expect(c.seqs(auction)).toEqual([1, 2, 3, 4, 5])
})

test('an event the bus brings early waits for the ones before it; one the bus never brings is read from the store', async () => {
	const { commit, deliver, connect } = await setup({ gapWaitMs: 30 })
	const c = await watch(connect, 'a1')
	const [one, two, three] = [await commit(), await commit(), await commit()]
	deliver('a1', three) // reordered on the bus (two api instances publishing at once)
	deliver('a1', one)
	await Bun.sleep(10)
	expect(c.seqs()).toEqual([1]) // three is held: two is still missing
	deliver('a1', two)
	await eventually(() => c.events().length === 3, 'two, then three')
	await commit() // seq 4: its delivery is lost
	deliver('a1', await commit()) // seq 5 waits for 4, which only the store has
	await eventually(() => c.events().length === 5, 'the gap filled from the store')
	deliver('a1', await commit())
	await eventually(() => c.events().length === 6, 'the next live event')
	await Bun.sleep(20)
	expect(c.seqs()).toEqual([1, 2, 3, 4, 5, 6])
})

test('a watcher synced ahead of what the topic has sent waits until it catches up, then gets each event once', async () => {
	const { commit, deliver, connect } = await setup({ gapWaitMs: 30 })
	const first = await watch(connect, 'a1')
	const one = await commit() // committed, still on its way over the bus
	const second = await watch(connect, 'a1') // its state already has seq 1
	deliver('a1', one)
	deliver('a1', await commit())
	await eventually(() => first.events().length === 2 && second.events().length === 1, 'seq 2 at both')
	const three = await commit()
	void three // its delivery is lost
	const third = await watch(connect, 'a1') // ahead of the topic until the store fills seq 3 in
	deliver('a1', await commit())
	await eventually(() => first.events().length === 4 && second.events().length === 3 && third.events().length === 1, 'seq 4 at all three')
	await Bun.sleep(20)
	expect(first.seqs()).toEqual([1, 2, 3, 4])
	expect(second.seqs()).toEqual([2, 3, 4])
	expect(third.seqs()).toEqual([4])
})

/** Connects a watcher to one auction and waits for its `subscribed`. */
async function watch(connect: (q: Record<string, string | number>) => Promise<LiveClient>, auction: string) {
	const c = await connect({ auction })
	await c.next((f) => f.type === 'subscribed', `${auction} subscribed`)
	return c
}

test('when the events missed in a bus outage have left the store, the topic gets a reset with the state, then live events', async () => {
	const { commit, deliver, resume, connect } = await setup({ eventsKept: 5 })
	const c = await watch(connect, 'a1')
	deliver('a1', await commit())
	await eventually(() => c.events().length === 1, 'the live event')
	for (let i = 0; i < 11; i++) await commit() // seqs 2–12 missed; the store keeps only the last few
	resume()
	await c.next((f) => f.type === 'reset', 'the reset')
	deliver('a1', await commit())
	await eventually(() => c.events().length === 2, 'the next live event')
	expect(c.frames.map((f) => f.type)).toEqual(['subscribed', 'bid.placed', 'reset', 'bid.placed'])
	expect(c.frames[2]).toMatchObject({ type: 'reset', auction: 'a1', seq: 12, state: { seq: 12 } })
	expect(c.seqs()).toEqual([1, 13])
})

test("this process's own events and another instance's, reordered on the bus, reach a watcher once each in order", async () => {
	const { hub, commit, deliver, connect } = await setup({ gapWaitMs: 30 })
	const c = await watch(connect, 'a1')
	const theirs = await commit() // seq 1, committed by another instance: only the bus brings it, late
	const ours = await commit() // seq 2, committed here: handed over at once
	hub.local('a1', ours)
	await Bun.sleep(10)
	expect(c.events()).toEqual([]) // seq 2 waits for seq 1
	deliver('a1', theirs)
	deliver('a1', ours) // the bus echo
	await eventually(() => c.events().length === 2, 'both')
	await Bun.sleep(20)
	expect(c.seqs()).toEqual([1, 2])
})

test('an auction the store does not have while it is rebuilt is UNAVAILABLE (subscribe again), NOT_FOUND once it is not', async () => {
	let lost = true
	const h = await setup({ lost: () => lost })
	const client = await h.connect({})
	client.send({ op: 'subscribe', auction: 'not-back-yet', since: 0 })
	expect(await client.next((f) => f.type === 'error', 'the first refusal')).toMatchObject({ code: 'UNAVAILABLE', auction: 'not-back-yet' })
	lost = false
	const from = client.frames.length
	client.send({ op: 'subscribe', auction: 'not-back-yet', since: 0 })
	expect(await client.next((f) => f.type === 'error', 'the second refusal', from)).toMatchObject({ code: 'NOT_FOUND', auction: 'not-back-yet' })
})
