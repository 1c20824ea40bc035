import { describe, expect, test } from 'bun:test'
import { createBatcher, type Timers } from '../../workers/archiver/batch.ts'

/** Timers driven by hand: `advance(ms)` fires what falls due, in order. */
function fakeTimers() {
	let now = 0
	let nextId = 0
	const due = new Map<number, { at: number; fn: () => void }>()
	const timers: Timers = {
		set(fn, ms) {
			due.set(++nextId, { at: now + ms, fn })
			return nextId
		},
		clear(handle) {
			due.delete(handle as number)
		},
	}
	return {
		timers,
		armed: () => due.size,
		advance(ms: number) {
			const until = now + ms
			for (;;) {
				const next = [...due.entries()].sort(([, a], [, b]) => a.at - b.at)[0]
				if (!next || next[1].at > until) break
				due.delete(next[0])
				now = next[1].at
				next[1].fn()
			}
			now = until
		},
	}
}

/** A flush whose batches are recorded and finish only when the test says so. */
function manualFlush() {
	const batches: number[][] = []
	const finishers: Array<() => void> = []
	return {
		batches,
		flush: (items: number[]) => {
			batches.push(items)
			return new Promise<void>((resolve) => finishers.push(resolve))
		},
		/** Finishes the oldest unfinished flush and lets its continuations run. */
		async finish() {
			finishers.shift()!()
			await Bun.sleep(0)
		},
	}
}

const tick = () => Bun.sleep(0)

describe('createBatcher', () => {
	test('cuts a batch as soon as it is full, without waiting', async () => {
		const clock = fakeTimers()
		const f = manualFlush()
		const b = createBatcher({ maxSize: 3, maxWaitMs: 5, flush: f.flush, timers: clock.timers })
		expect(b.add(1)).toBeUndefined()
		expect(b.add(2)).toBeUndefined()
		expect(f.batches).toEqual([])
		expect(b.add(3)).toBeUndefined()
		expect(f.batches).toEqual([[1, 2, 3]])
		expect(clock.armed()).toBe(0)
	})

	test('cuts a partial batch when its first item has waited maxWaitMs, not before', async () => {
		const clock = fakeTimers()
		const f = manualFlush()
		const b = createBatcher({ maxSize: 100, maxWaitMs: 5, flush: f.flush, timers: clock.timers })
		b.add(1)
		clock.advance(3)
		b.add(2)
		clock.advance(1)
		expect(f.batches).toEqual([])
		clock.advance(1)
		expect(f.batches).toEqual([[1, 2]])
		expect(b.pending).toBe(0)
	})

	test('fills the next batch while one is flushing, and makes the caller wait only when that one is full too', async () => {
		const clock = fakeTimers()
		const f = manualFlush()
		const b = createBatcher({ maxSize: 2, maxWaitMs: 5, flush: f.flush, timers: clock.timers })
		b.add(1)
		b.add(2) // full: flushing [1, 2]
		expect(b.add(3)).toBeUndefined()
		let released = false
		const wait = b.add(4) // [3, 4] full while [1, 2] still flushes
		expect(wait).toBeInstanceOf(Promise)
		wait!.then(() => (released = true))
		await tick()
		expect(released).toBe(false)
		expect(f.batches).toEqual([[1, 2]])
		await f.finish()
		expect(f.batches).toEqual([[1, 2], [3, 4]])
		await tick()
		expect(released).toBe(true)
	})

	test('a batch that came due during a flush goes out right after it, one flush at a time', async () => {
		const clock = fakeTimers()
		const f = manualFlush()
		const b = createBatcher({ maxSize: 2, maxWaitMs: 5, flush: f.flush, timers: clock.timers })
		b.add(1)
		b.add(2)
		b.add(3)
		clock.advance(10)
		expect(b.flushing).toBe(true)
		expect(f.batches).toEqual([[1, 2]])
		await f.finish()
		expect(f.batches).toEqual([[1, 2], [3]])
	})

	test('never hands flush more than maxSize, even when the caller ignores the wait', async () => {
		const clock = fakeTimers()
		const f = manualFlush()
		const b = createBatcher({ maxSize: 2, maxWaitMs: 5, flush: f.flush, timers: clock.timers })
		for (let i = 1; i <= 7; i++) b.add(i)
		await f.finish()
		await f.finish()
		await f.finish()
		clock.advance(5)
		expect(f.batches).toEqual([[1, 2], [3, 4], [5, 6], [7]])
	})

	test('drain flushes what is pending at once and resolves when everything is written', async () => {
		const clock = fakeTimers()
		const f = manualFlush()
		const b = createBatcher({ maxSize: 3, maxWaitMs: 1_000, flush: f.flush, timers: clock.timers })
		b.add(1)
		b.add(2)
		b.add(3)
		b.add(4)
		let drained = false
		const draining = b.drain().then(() => (drained = true))
		await tick()
		expect(f.batches).toEqual([[1, 2, 3]])
		await f.finish()
		expect(f.batches).toEqual([[1, 2, 3], [4]])
		expect(drained).toBe(false)
		await f.finish()
		await draining
		expect(drained).toBe(true)
		expect(clock.armed()).toBe(0)
		await b.drain()
	})

	test('with concurrency 2, two batches flush at once and the caller waits only when a third is full', async () => {
		const clock = fakeTimers()
		const f = manualFlush()
		const b = createBatcher({ maxSize: 2, maxWaitMs: 5, concurrency: 2, flush: f.flush, timers: clock.timers })
		for (const i of [1, 2, 3, 4]) expect(b.add(i)).toBeUndefined()
		expect(f.batches).toEqual([[1, 2], [3, 4]])
		expect(b.add(5)).toBeUndefined()
		let released = false
		b.add(6)!.then(() => (released = true))
		await tick()
		expect(released).toBe(false)
		await f.finish() // one slot frees: [5, 6] goes out
		expect(f.batches).toEqual([[1, 2], [3, 4], [5, 6]])
		await tick()
		expect(released).toBe(true)
		b.add(7)
		clock.advance(5)
		expect(f.batches).toHaveLength(3) // [7] is due, but both slots are busy
		await f.finish()
		expect(f.batches).toEqual([[1, 2], [3, 4], [5, 6], [7]])
		let drained = false
		const draining = b.drain().then(() => (drained = true))
		await f.finish()
		await tick()
		expect(drained).toBe(false) // [7] still flushing
		await f.finish()
		await draining
		expect(drained).toBe(true)
	})

	test('a failing flush is reported and the next batches still go out', async () => {
		const clock = fakeTimers()
		const errors: unknown[] = []
		const flushed: number[][] = []
		const b = createBatcher({
			maxSize: 2,
			maxWaitMs: 5,
			timers: clock.timers,
			onError: (err) => errors.push(err),
			flush: async (items: number[]) => {
				flushed.push(items)
				if (items.includes(1)) throw new Error('boom')
			},
		})
		b.add(1)
		b.add(2)
		b.add(3)
		await b.drain()
		expect(flushed).toEqual([[1, 2], [3]])
		expect(errors.map((e) => (e as Error).message)).toEqual(['boom'])
	})
})
