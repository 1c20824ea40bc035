import { FormatRegistry } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { AuctionClosedSchema, AuctionCreatedSchema, BidPlacedSchema, type GavelEvent } from '../../src/events.ts'

// Elysia registers TypeBox formats when it loads; the Worker never loads Elysia.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
if (!FormatRegistry.Has('uuid')) FormatRegistry.Set('uuid', (value) => UUID.test(value))

// One checker per type, so a refusal names the field rather than "Expected union value".
const checks: Record<string, ReturnType<typeof TypeCompiler.Compile>> = {
	'auction.created': TypeCompiler.Compile(AuctionCreatedSchema),
	'bid.placed': TypeCompiler.Compile(BidPlacedSchema),
	'auction.closed': TypeCompiler.Compile(AuctionClosedSchema),
}

export type Decoded =
	| { ok: true; event: GavelEvent; json: string }
	| { ok: false; reason: 'undecodable' | 'invalid'; error: string }

/**
 * decodeEvent parses and schema-checks one event. Anything that is not a well-formed event
 * must never reach a batch: one bad row would fail the whole statement.
 */
export function decodeEvent(json: string): Decoded {
	let value: unknown
	try {
		value = JSON.parse(json)
	} catch (err) {
		return { ok: false, reason: 'undecodable', error: (err as Error).message }
	}
	const type = (value as { type?: unknown } | null)?.type
	const check = typeof type === 'string' && Object.hasOwn(checks, type) ? checks[type]! : null
	if (!check) return { ok: false, reason: 'invalid', error: `unknown event type ${JSON.stringify(type)}` }
	if (!check.Check(value)) {
		const first = check.Errors(value).First()
		return { ok: false, reason: 'invalid', error: first ? `${first.path || '/'}: ${first.message}` : 'not an event' }
	}
	return { ok: true, event: value as GavelEvent, json }
}
