import { Type as T, type TObject } from '@sinclair/typebox'
import { withHeaders } from '@elysiajs/openapi'

/**
 * ErrorBody is the one shape of every refusal (docs/design.md §4): `{"error":{"code","message",…}}`,
 * with the details a code carries beside the message. The OpenAPI document names it once, as the
 * `Error` component, and every error response refers to it.
 */
export const ErrorBody = T.Object(
	{
		error: T.Object({
			code: T.String({ description: 'Stable upper-case code to branch on: `TOO_LOW`, `CLOSED`, `VALIDATION`, …' }),
			message: T.String({ description: 'What went wrong, for people (the wording may change)' }),
			field: T.Optional(T.String({ description: '`VALIDATION`: the field at fault' })),
			in: T.Optional(T.String({ description: '`VALIDATION` of the request shape: where the field is (`body`, `query`, `params`)' })),
			minimum: T.Optional(T.Integer({ description: '`TOO_LOW`: the lowest bid that would be accepted, minor units' })),
			startsAt: T.Optional(T.Integer({ description: '`NOT_STARTED`: when bidding opens, epoch milliseconds' })),
			id: T.Optional(T.String({ description: '`EXISTS`: the auction id that is taken' })),
			limit: T.Optional(T.Integer({ description: '`PAYLOAD_TOO_LARGE`, `URI_TOO_LONG`: the limit in bytes' })),
			retryAfter: T.Optional(T.Integer({ description: '`RATE_LIMITED`: seconds to wait, as in the `Retry-After` header' })),
			expected: T.Optional(T.String({ description: '`UNSUPPORTED_MEDIA_TYPE`: the content type to send' })),
		}),
	},
	{ description: 'Every 4xx and 5xx answer: `{"error":{"code","message",…details}}`' },
)

const RetryAfter = T.Integer({ minimum: 1, description: 'Seconds to wait before trying again' })

/**
 * errorResponses declares a route's refusals for its `response` map: the status, and what it
 * means on that route (the codes it carries) as the response's description. The schema is
 * ErrorBody, so Eden sees the body's type; a 429 also documents its `Retry-After` header.
 */
export function errorResponses<const S extends Record<number, string>>(descriptions: S): { [K in keyof S]: typeof ErrorBody } {
	const responses: Record<string, TObject> = {}
	for (const [status, description] of Object.entries(descriptions)) {
		const schema = { ...ErrorBody, description }
		responses[status] = status === '429' ? withHeaders(schema, { 'Retry-After': RetryAfter }) : schema
	}
	return responses as { [K in keyof S]: typeof ErrorBody }
}

/** Refusals several routes share, worded once. */
export const Refusal = {
	badJson: '`BAD_REQUEST`: the body is not valid JSON',
	notJson: '`UNSUPPORTED_MEDIA_TYPE`: the body is not sent as `content-type: application/json` (`expected`)',
	tooLarge: '`PAYLOAD_TOO_LARGE`: the body is larger than `MAX_BODY_BYTES` (`limit`)',
	urlTooLong: '`URI_TOO_LONG`: the URL is longer than the server accepts (`limit`)',
	noToken: '`UNAUTHORIZED`: no bearer token, or one that is malformed, badly signed, expired or without `sub`',
	noApi: '`NOT_FOUND`: this instance does not serve the API (`ROLES` without `api`)',
	noAuction: '`NOT_FOUND`: no auction has this id (or this instance does not serve the API: `ROLES` without `api`)',
	ipLimited: '`RATE_LIMITED`: too many requests without a token from this address; retry after `Retry-After` seconds',
	storeDown: '`UNAVAILABLE`: the bid store is not answering, or is being rebuilt from the log and does not have this auction back yet; retry after `Retry-After`',
	outcomeUnknown:
		'`OUTCOME_UNKNOWN`: the store took it but the log did not hold it within `DURABLE_WAIT_MS`; retry with the same `Idempotency-Key` to learn the outcome (never placed twice)',
	/** A 422 for a request that breaks the model: `what` says how, on this route. */
	validation: (what: string) => `\`VALIDATION\`: ${what}; \`field\` names the field at fault`,
} as const
