import { describe, expect, test } from 'bun:test'
import { stepAt, statusAt } from '../../src/domain/auction.ts'
import { newAuction } from '../../src/domain/new-auction.ts'
import { decodeCursor, encodeCursor, listKey } from '../../src/domain/listing.ts'
import { eventIdOf } from '../../src/ports/event-bus.ts'
import { newEventId } from '../../src/events.ts'

describe('domain', () => {
	test('stepAt takes the step of the last tier at or below the price', () => {
		const tiers = [{ from: 0, step: 10 }, { from: 100, step: 50 }, { from: 1000, step: 100 }]
		expect([0, 99, 100, 999, 1000, 10 ** 9].map((p) => stepAt(tiers, p))).toEqual([10, 10, 50, 50, 100, 100])
		expect(stepAt(25, 12345)).toBe(25)
	})

	test('statusAt: scheduled before startsAt, open until endsAt, closed from endsAt or when closed', () => {
		const a = { startsAt: 100, endsAt: 200, closed: false }
		expect([99, 100, 199, 200].map((t) => statusAt(a, t))).toEqual(['scheduled', 'open', 'open', 'closed'])
		expect(statusAt({ ...a, closed: true }, 150)).toBe('closed')
	})

	test('newAuction fills defaults: starts now, USD, no reserve means reserveMet, cap one hour after endsAt', () => {
		const a = newAuction({ title: 't', startingPrice: 100, increment: 10, endsAt: 10_000 }, 'sam', 1_000)
		expect(a).toMatchObject({ startsAt: 1_000, currency: 'USD', reserveMet: true, maxEndsAt: 10_000 + 3_600_000, seq: 0, sellerId: 'sam' })
		expect(a.id).toMatch(/^[A-Za-z0-9_-]{22}$/)
	})

	test('cursors round-trip and garbage is a VALIDATION error', () => {
		const key = listKey({ createdAt: 1764100000123, id: 'a_1' })
		expect(decodeCursor(encodeCursor(key))).toBe(key)
		expect(() => decodeCursor('bm90IGEgY3Vyc29y')).toThrow('cursor')
	})

	test('eventIdOf slices the id of an id-first event and parses anything else', () => {
		const id = newEventId()
		expect(eventIdOf(JSON.stringify({ id, type: 'bid.placed' }))).toBe(id)
		expect(eventIdOf(JSON.stringify({ type: 'bid.placed', id }))).toBe(id)
	})
})
