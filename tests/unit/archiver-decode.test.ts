import { expect, test } from 'bun:test'
import { FormatRegistry } from '@sinclair/typebox'
import { decodeEvent } from '../../workers/archiver/decode.ts'
import { auctionCreated, type BidPlaced } from '../../src/events.ts'
import { newAuction } from '../../src/domain/new-auction.ts'

const record = newAuction({ id: 'decode1', title: 'Lamp', startingPrice: 100, increment: 10, endsAt: Date.now() + 60_000 }, 'sam', Date.now())
const created = auctionCreated(record)

test('an event decodes whatever another module put in TypeBox’s format registry (no per-event format lookup)', () => {
	const previous = FormatRegistry.Get('uuid')
	let calls = 0
	// What @elysiajs/openapi does, at its cost: a validator looked up and run for every event.
	FormatRegistry.Set('uuid', () => {
		calls++
		return true
	})
	try {
		const json = JSON.stringify(created)
		expect(decodeEvent(json)).toEqual({ ok: true, event: created, json })
		expect(calls).toBe(0)
	} finally {
		if (previous) FormatRegistry.Set('uuid', previous)
		else FormatRegistry.Delete('uuid')
	}
})

test('the id is still checked as a UUID, and a refusal names the field', () => {
	const bad = decodeEvent(JSON.stringify({ ...created, id: 'not-a-uuid' }))
	expect(bad).toMatchObject({ ok: false, reason: 'invalid' })
	expect((bad as { error: string }).error).toStartWith('/id:')
	const upper = { ...created, id: created.id.toUpperCase() }
	expect(decodeEvent(JSON.stringify(upper)).ok).toBe(true)
	expect(decodeEvent(JSON.stringify({ type: 'bid.placed', id: created.id } satisfies Partial<BidPlaced>))).toMatchObject({ ok: false, reason: 'invalid' })
	expect(decodeEvent('{"type":')).toMatchObject({ ok: false, reason: 'undecodable' })
})
