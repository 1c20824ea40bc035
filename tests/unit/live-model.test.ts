import { describe, expect, test } from 'bun:test'
import { AppError } from '../../src/errors.ts'
import { atOf, seqOf } from '../../src/ports/event-bus.ts'
import { errorFrame, parseClientOp, parseLiveQuery } from '../../src/modules/live/model.ts'
import { TooManySubscriptionsError } from '../../src/errors.ts'

const codeOf = (r: unknown) => (r instanceof AppError ? r.code : 'OK')

describe('client ops on /live', () => {
	test.each([
		['{"op":"subscribe","auction":"a1"}', 'OK'],
		['{"op":"subscribe","auction":"a1","since":7}', 'OK'],
		['{"op":"unsubscribe","auction":"a_1-B"}', 'OK'],
		['nope', 'BAD_FRAME'],
		['', 'BAD_FRAME'],
		['null', 'BAD_FRAME'],
		['[{"op":"subscribe"}]', 'BAD_FRAME'],
		['{"op":7}', 'BAD_FRAME'],
		['{"op":"ping"}', 'UNKNOWN_OP'],
		['{"op":"subscribe","auction":""}', 'BAD_FRAME'],
		[`{"op":"subscribe","auction":"${'x'.repeat(65)}"}`, 'BAD_FRAME'],
		['{"op":"subscribe","auction":"a/b"}', 'BAD_FRAME'],
		['{"op":"subscribe","auction":"a1","since":1.5}', 'BAD_FRAME'],
		['{"op":"subscribe","auction":"a1","since":-1}', 'BAD_FRAME'],
		['{"op":"subscribe","auction":"a1","since":1e300}', 'BAD_FRAME'],
		['{"op":"unsubscribe","auction":"a1","since":1}', 'BAD_FRAME'],
	])('%s → %s', (frame, code) => {
		expect(codeOf(parseClientOp(frame))).toBe(code)
	})

	test('a binary frame is BAD_FRAME', () => {
		expect(codeOf(parseClientOp(new Uint8Array([123, 125])))).toBe('BAD_FRAME')
	})

	test('a field error names the field', () => {
		const err = parseClientOp('{"op":"subscribe","auction":"a1","since":"3"}') as AppError
		expect(err.message).toStartWith('since:')
	})
})

describe('the /live?auction=&since= shortcut', () => {
	test.each([
		[{}, null],
		[{ auction: 'a1' }, { op: 'subscribe', auction: 'a1' }],
		[{ auction: 'a1', since: '7' }, { op: 'subscribe', auction: 'a1', since: 7 }],
	])('%o', (query, expected) => {
		expect(parseLiveQuery(query)).toEqual(expected as never)
	})
	test.each([[{ since: '3' }], [{ auction: 'a1', since: 'x' }], [{ auction: 'a1', since: '-1' }], [{ auction: 'bad id' }]])('%o is BAD_FRAME', (query) => {
		expect(codeOf(parseLiveQuery(query))).toBe('BAD_FRAME')
	})
})

test('error frames carry the code, the message, the details and the auction', () => {
	expect(JSON.parse(errorFrame(new TooManySubscriptionsError(5), 'a1'))).toEqual({
		type: 'error',
		code: 'TOO_MANY_SUBSCRIPTIONS',
		message: expect.any(String),
		limit: 5,
		auction: 'a1',
	})
})

describe('reading seq and at without a parse', () => {
	const event = '{"id":"0193","type":"bid.placed","auction":"a1","seq":1234,"at":1764100000123,"bidder":"u","amount":1}'
	test('both stores put them right after the auction', () => {
		expect(seqOf(event)).toBe(1234)
		expect(atOf(event)).toBe(1764100000123)
	})
	test('another field order still reads seq (by a parse when need be); a missing at is -1', () => {
		const odd = '{"seq":9,"id":"x","at":5}'
		expect(seqOf(odd)).toBe(9)
		expect(atOf(odd)).toBe(5)
		expect(atOf('{"seq":9}')).toBe(-1)
	})
})
