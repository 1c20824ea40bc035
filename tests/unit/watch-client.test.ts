import { afterEach, expect, test } from 'bun:test'
import type { ServerWebSocket } from 'bun'
import { connectLive, watch, type GavelEvent, type Watcher, type WatchError } from '../../src/client/index.ts'
import { eventually } from '../helpers/ws.ts'

/**
 * A fake `/live` server the test scripts frame by frame, to drive the watch client through
 * gaps, duplicates, reorderings, resets and dropped connections that a real server rarely shows.
 */
function fakeLive() {
	const sockets: ServerWebSocket<unknown>[] = []
	const ops: Array<{ op: string; auction: string; since?: number }> = []
	const server = Bun.serve({
		port: 0,
		hostname: '127.0.0.1',
		fetch: (req, s) => (s.upgrade(req) ? undefined : new Response('no', { status: 426 })),
		websocket: {
			open: (ws) => void sockets.push(ws),
			message: (_, m) => void ops.push(JSON.parse(String(m))),
		},
	})
	const current = () => sockets.at(-1)!
	return {
		url: `http://127.0.0.1:${server.port}`,
		ops,
		sockets,
		send: (...frames: unknown[]) => frames.forEach((f) => current().send(JSON.stringify(f))),
		subscribed: (seq: number) => current().send(JSON.stringify({ type: 'subscribed', auction: 'a1', seq, state: state(seq) })),
		drop: () => current().terminate(),
		stop: () => server.stop(true),
	}
}

const state = (seq: number) => ({ id: 'a1', seq, status: 'open', price: seq * 100, currency: 'USD' })
const bid = (seq: number) => ({ id: `e${seq}`, type: 'bid.placed', auction: 'a1', seq, at: seq, bidder: 'bob', amount: seq, price: seq, leader: 'bob', proxy: false, endsAt: 0, reserveMet: true })

let cleanup: Array<() => void> = []
afterEach(() => {
	for (const fn of cleanup) fn()
	cleanup = []
})

function start(options: { since?: number; gapTimeoutMs?: number } = {}) {
	const live = fakeLive()
	const seqs: number[] = []
	const states: number[] = []
	const resets: number[] = []
	const errors: WatchError[] = []
	const watcher: Watcher = watch(live.url, 'a1', {
		...options,
		onEvent: (e: GavelEvent) => seqs.push(e.seq),
		onState: (s) => states.push(s.seq),
		onReset: (s) => resets.push(s.seq),
		onError: (e) => errors.push(e),
		backoff: { baseMs: 5, maxMs: 20 },
	})
	cleanup.push(() => watcher.close(), () => live.stop())
	return { live, watcher, seqs, states, resets, errors }
}

test('subscribes with since, then hands over events once and in seq order', async () => {
	const { live, seqs, states } = start({ since: 5 })
	await eventually(() => live.ops.length === 1, 'the subscribe')
	expect(live.ops[0]).toEqual({ op: 'subscribe', auction: 'a1', since: 5 })
	live.subscribed(9)
	live.send(bid(5), bid(6), bid(7), bid(7), bid(9), bid(8), bid(6), bid(10))
	await eventually(() => seqs.length === 5, 'five events')
	expect(seqs).toEqual([6, 7, 8, 9, 10])
	expect(states).toEqual([9])
})

test('without since it starts from the state and ignores what came before', async () => {
	const { live, seqs, watcher } = start()
	await eventually(() => live.ops.length === 1, 'the subscribe')
	expect(live.ops[0]).toEqual({ op: 'subscribe', auction: 'a1' })
	live.subscribed(40)
	live.send(bid(40), bid(41))
	await eventually(() => seqs.length === 1, 'one event')
	expect(seqs).toEqual([41])
	expect(watcher.seq).toBe(41)
})

test('a gap that does not fill in time makes it subscribe again with its last seq', async () => {
	const { live, seqs } = start({ since: 0, gapTimeoutMs: 20 })
	await eventually(() => live.ops.length === 1, 'the subscribe')
	live.subscribed(0)
	live.send(bid(1), bid(2), bid(4), bid(5)) // 3 never comes on its own
	await eventually(() => live.ops.length === 2, 'the re-subscribe')
	expect(live.ops[1]).toEqual({ op: 'subscribe', auction: 'a1', since: 2 })
	live.send(bid(6)) // from the old sync, before the server's answer: dropped, the replay has it
	live.subscribed(6)
	live.send(bid(3), bid(4), bid(5), bid(6), bid(7))
	await eventually(() => seqs.length === 7, 'seven events')
	expect(seqs).toEqual([1, 2, 3, 4, 5, 6, 7])
})

test('after a dropped connection it reconnects and resubscribes from the last seq it has', async () => {
	const { live, seqs, watcher } = start({ since: 0 })
	await eventually(() => live.ops.length === 1, 'the subscribe')
	live.subscribed(2)
	live.send(bid(1), bid(2), bid(3))
	await eventually(() => seqs.length === 3, 'three events')
	live.drop()
	await eventually(() => live.ops.length === 2, 'the resubscribe on a new socket')
	expect(live.sockets).toHaveLength(2)
	expect(live.ops[1]).toEqual({ op: 'subscribe', auction: 'a1', since: 3 })
	live.subscribed(5)
	live.send(bid(4), bid(5))
	await eventually(() => seqs.length === 5, 'five events')
	expect(seqs).toEqual([1, 2, 3, 4, 5])
	expect(watcher.status).toBe('live')
})

test('a reset moves on from the new state', async () => {
	const { live, seqs, resets, states, watcher } = start({ since: 3 })
	await eventually(() => live.ops.length === 1, 'the subscribe')
	live.send({ type: 'reset', auction: 'a1', seq: 500, state: state(500) })
	live.send(bid(500), bid(501))
	await eventually(() => seqs.length === 1, 'the live event')
	expect(seqs).toEqual([501])
	expect(resets).toEqual([500])
	expect(states).toEqual([500])
	expect(watcher.seq).toBe(501)
})

test('NOT_FOUND is reported and ends the watch; other errors retry', async () => {
	const { live, errors, watcher } = start()
	await eventually(() => live.ops.length === 1, 'the subscribe')
	live.send({ type: 'error', code: 'UNAVAILABLE', message: 'try again', auction: 'a1' })
	await eventually(() => live.ops.length === 2, 'a retry')
	live.send({ type: 'error', code: 'NOT_FOUND', message: 'auction not found', auction: 'a1' })
	await eventually(() => watcher.status === 'closed', 'the end')
	expect(errors.map((e) => e.code)).toEqual(['UNAVAILABLE', 'NOT_FOUND'])
})

test('close() stops for good: no reconnect, no callbacks', async () => {
	const { live, watcher, seqs } = start({ since: 0 })
	await eventually(() => live.ops.length === 1, 'the subscribe')
	live.subscribed(0)
	watcher.close()
	expect(watcher.status).toBe('closed')
	await eventually(() => live.sockets[0]!.readyState === 3, 'the socket closed')
	// Nothing reconnects: a later event-free interval shows one socket only.
	await Bun.sleep(50)
	expect(live.sockets).toHaveLength(1)
	expect(seqs).toEqual([])
})

test('its status says when it is behind: catching up through the replay and while a gap is open, live once in step', async () => {
	const { live, seqs, watcher } = start({ since: 5, gapTimeoutMs: 5_000 })
	const statuses: string[] = []
	const poll = setInterval(() => statuses.at(-1) !== watcher.status && statuses.push(watcher.status), 1)
	cleanup.push(() => clearInterval(poll))
	await eventually(() => live.ops.length === 1, 'the subscribe')
	expect(watcher.status).toBe('connecting')
	live.subscribed(8) // the state is at 8: 6, 7 and 8 are on their way
	await eventually(() => watcher.status === 'catching-up', 'catching up')
	live.send(bid(6), bid(7))
	await eventually(() => seqs.length === 2, 'two of three')
	expect(watcher.status).toBe('catching-up')
	live.send(bid(8))
	await eventually(() => watcher.status === 'live', 'in step')
	live.send(bid(10)) // 9 is missing: behind again until it comes
	await eventually(() => watcher.status === 'catching-up', 'behind')
	live.send(bid(9))
	await eventually(() => watcher.status === 'live', 'in step again')
	expect(seqs).toEqual([6, 7, 8, 9, 10])
	expect(statuses).toEqual(['connecting', 'catching-up', 'live', 'catching-up', 'live'])
})

test('a watch that ends by itself (NOT_FOUND) closes its socket', async () => {
	const { live, watcher } = start()
	await eventually(() => live.ops.length === 1, 'the subscribe')
	live.send({ type: 'error', code: 'NOT_FOUND', message: 'auction not found', auction: 'a1' })
	await eventually(() => watcher.status === 'closed', 'the end')
	await eventually(() => live.sockets[0]!.readyState === 3, 'the socket closed')
})

test('connectLive: many auctions on one socket, each in order, each resubscribed from its own seq after a drop', async () => {
	const live = fakeLive()
	const connection = connectLive(live.url, { backoff: { baseMs: 5, maxMs: 20 } })
	cleanup.push(() => connection.close(), () => live.stop())
	const seen: Record<string, number[]> = { a1: [], a2: [] }
	const errors: string[] = []
	const watchers = ['a1', 'a2'].map((auction) =>
		connection.watch(auction, { since: 0, onEvent: (e) => seen[auction]!.push(e.seq), onError: (e) => errors.push(`${auction} ${e.code}`) }),
	)
	expect(() => connection.watch('a1', { onEvent() {} })).toThrow('already watches a1')
	await eventually(() => live.ops.length === 2, 'two subscribes')
	expect(live.sockets).toHaveLength(1)
	expect(live.ops).toEqual([
		{ op: 'subscribe', auction: 'a1', since: 0 },
		{ op: 'subscribe', auction: 'a2', since: 0 },
	])
	const on = (auction: string, seq: number) => ({ ...bid(seq), auction })
	live.send({ type: 'subscribed', auction: 'a1', seq: 0, state: state(0) }, { type: 'subscribed', auction: 'a2', seq: 0, state: state(0) })
	live.send(on('a1', 1), on('a2', 1), on('a2', 2), on('a1', 2), on('a1', 1))
	await eventually(() => seen.a1!.length === 2 && seen.a2!.length === 2, 'both auctions')
	expect(watchers.map((w) => w.status)).toEqual(['live', 'live'])

	live.drop()
	await eventually(() => live.ops.length === 4, 'both resubscribed')
	expect(live.sockets).toHaveLength(2)
	expect(live.ops.slice(2)).toEqual([
		{ op: 'subscribe', auction: 'a1', since: 2 },
		{ op: 'subscribe', auction: 'a2', since: 2 },
	])
	// An error about no auction in particular reaches every watch; NOT_FOUND ends only its own.
	live.send({ type: 'error', code: 'BAD_FRAME', message: 'odd' }, { type: 'error', code: 'NOT_FOUND', message: 'gone', auction: 'a2' })
	await eventually(() => watchers[1]!.status === 'closed', 'a2 ended')
	expect(errors).toEqual(['a1 BAD_FRAME', 'a2 BAD_FRAME', 'a2 NOT_FOUND'])
	live.send({ type: 'subscribed', auction: 'a1', seq: 3, state: state(3) }, on('a1', 3), on('a2', 3))
	await eventually(() => seen.a1!.length === 3, 'a1 goes on')
	expect(seen).toEqual({ a1: [1, 2, 3], a2: [1, 2] })

	// Closing one watch unsubscribes it on the shared socket, which stays open for the others.
	const a3 = connection.watch('a3', { onEvent() {} })
	await eventually(() => live.ops.length === 5, 'a3 subscribed on the open socket')
	expect(live.ops[4]).toEqual({ op: 'subscribe', auction: 'a3' })
	a3.close()
	await eventually(() => live.ops.length === 6, 'the unsubscribe')
	expect(live.ops[5]).toEqual({ op: 'unsubscribe', auction: 'a3' })
	expect(live.sockets[1]!.readyState).toBe(1)
	connection.close()
	expect(watchers[0]!.status).toBe('closed')
	await eventually(() => live.sockets[1]!.readyState === 3, 'the socket closed')
})
