import { TypeCompiler } from '@sinclair/typebox/compiler'
import { AuctionClosedSchema, AuctionCreatedSchema, BidPlacedSchema, type GavelEvent } from '../../src/events.ts'

const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'

/**
 * The schema with `format: 'uuid'` checked as the same pattern instead. A format is looked up in
 * TypeBox's process-wide FormatRegistry at every check, and @elysiajs/openapi (loaded by every
 * process that serves HTTP, the archiver's too) registers formats that build a zod schema per
 * call: 21 µs an event, a sixth of the archiver's CPU (bench/README.md). A pattern compiles to
 * an inline RegExp test that no other module can swap.
 */
export function withoutFormats<S>(schema: S): S {
	if (Array.isArray(schema)) return schema.map(withoutFormats) as S
	if (schema === null || typeof schema !== 'object') return schema
	const copy: Record<PropertyKey, unknown> = {}
	// Reflect.ownKeys: TypeBox keeps its kind under a symbol.
	for (const key of Reflect.ownKeys(schema)) copy[key] = withoutFormats((schema as Record<PropertyKey, unknown>)[key])
	if (copy.format === 'uuid') {
		delete copy.format
		copy.pattern = UUID_PATTERN
	}
	return copy as S
}

// One checker per type, so a refusal names the field rather than "Expected union value".
const checks: Record<string, ReturnType<typeof TypeCompiler.Compile>> = {
	'auction.created': TypeCompiler.Compile(withoutFormats(AuctionCreatedSchema)),
	'bid.placed': TypeCompiler.Compile(withoutFormats(BidPlacedSchema)),
	'auction.closed': TypeCompiler.Compile(withoutFormats(AuctionClosedSchema)),
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
