import type { AnyElysia } from 'elysia'
import { toOpenAPISchema } from '@elysiajs/openapi'
import { ErrorBody } from '../error-responses.ts'

export interface DocumentInfo {
	title: string
	version: string
	description: string
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type JsonObject = { [key: string]: Json }

/** Where the shared error body lives in the document. */
export const ERROR_REF = '#/components/schemas/Error'

/** The sections of the document, with what is in each (the UI groups operations by these tags). */
const TAGS = [
	{ name: 'auctions', description: 'Create auctions (sellers), read and list them (anyone), catch up on their events' },
	{ name: 'bids', description: 'Place bids (any token) and read the bid history' },
	{ name: 'live', description: 'The `/live` WebSocket: watch auctions as bids land' },
	{ name: 'operations', description: 'Probes and metrics for the platform' },
]

/**
 * buildDocument turns what Elysia knows of `app`'s routes into gavel's OpenAPI 3.1 document.
 * The routes declare everything they answer (successes and refusals, with what each means);
 * this adds what belongs to the whole API: the server, the bearer scheme (public unless a route
 * says otherwise), the tags, and the `Error` component that every refusal refers to instead of
 * repeating it.
 */
export function buildDocument(app: AnyElysia, info: DocumentInfo): JsonObject {
	const generated = toOpenAPISchema(app, { staticFile: true }, undefined, undefined, '3.1.2')
	const paths = toJson(generated.paths)
	for (const pathItem of Object.values(paths))
		for (const operation of Object.values(asObject(pathItem))) finishResponses(asObject(asObject(operation).responses))
	return {
		openapi: '3.1.2',
		info: { ...info },
		// Relative: the document works for whichever host, port or proxy it was fetched through.
		servers: [{ url: '/', description: 'This gavel' }],
		// Public unless an operation requires a token (creating auctions and bidding do).
		security: [],
		tags: TAGS,
		paths,
		components: {
			schemas: { ...toJson(generated.components.schemas ?? {}), Error: toJson(ErrorBody) },
			securitySchemes: {
				bearer: {
					type: 'http',
					scheme: 'bearer',
					bearerFormat: 'JWT',
					description: 'A JWT whose `sub` is the bidder id; a `roles` claim with `seller` or `admin` may create auctions',
				},
			},
		},
	}
}

/** The error body as the generator renders it (`description` aside): what a refusal's schema must equal to be replaced by the reference. */
const ERROR_BODY_JSON = canonical(withoutDescription(toJson(ErrorBody)))

function finishResponses(responses: JsonObject) {
	for (const response of Object.values(responses)) {
		const r = asObject(response)
		const content = r.content === undefined ? undefined : asObject(r.content)
		if (content === undefined) continue
		// The generator renders a body-less response (t.Void) as a bogus media type: it has none.
		if (typeof content.type === 'string') {
			delete r.content
			continue
		}
		const json = content['application/json'] === undefined ? undefined : asObject(content['application/json'])
		if (json?.schema !== undefined && canonical(withoutDescription(asObject(json.schema))) === ERROR_BODY_JSON) json.schema = { $ref: ERROR_REF }
	}
}

function asObject(value: Json | undefined): JsonObject {
	return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {}
}

/** A TypeBox schema or generated section as plain JSON (TypeBox's symbol keys dropped). */
function toJson(value: unknown): JsonObject {
	return JSON.parse(JSON.stringify(value)) as JsonObject
}

function withoutDescription({ description: _, ...rest }: JsonObject): JsonObject {
	return rest
}

/** JSON with object keys sorted, so that equal schemas compare equal whatever their key order. */
function canonical(value: Json): string {
	if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
	if (value !== null && typeof value === 'object')
		return `{${Object.keys(value)
			.sort()
			.map((k) => `${JSON.stringify(k)}:${canonical(value[k]!)}`)
			.join(',')}}`
	return JSON.stringify(value)
}
