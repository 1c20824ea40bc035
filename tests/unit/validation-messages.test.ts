import { describe, expect, test } from 'bun:test'
import { Type as T, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { describeFailure } from '../../src/modules/validation-messages.ts'
import { secondsHint } from '../../src/domain/new-auction.ts'

/** What describeFailure says of the first failure of `value` against `schema`. */
function said(schema: TSchema, value: unknown): string {
	const failure = Value.Errors(schema, value).First()
	if (!failure) throw new Error('the value is valid')
	return describeFailure(failure)
}

describe('describeFailure', () => {
	const Amount = T.Integer({ minimum: 1, maximum: 100 })
	const Either = T.Union([T.Integer({ minimum: 1, description: 'a step' }), T.Array(T.String(), { minItems: 2, description: 'some names' })])

	test('a union of literals lists its choices', () => {
		expect(said(T.Union([T.Literal('asc'), T.Literal('desc')]), 'up')).toBe('must be one of asc, desc')
	})

	test('any other union reports the branch of the value’s type, with the others as alternatives', () => {
		expect(said(Either, 0)).toBe('must be at least 1 (or some names)')
		expect(said(Either, ['one'])).toBe('must have at least 2 items (or a step)')
		expect(said(Either, [1, 'two'])).toBe('[0] must be a string')
		expect(said(Either, { step: 1 })).toBe('must be a step or some names')
	})

	test('bounds, lengths and types in words', () => {
		expect(said(Amount, 0)).toBe('must be at least 1')
		expect(said(Amount, 101)).toBe('must be at most 100')
		expect(said(T.Integer({ exclusiveMinimum: 0 }), 0)).toBe('must be more than 0')
		expect(said(T.String({ minLength: 1 }), '')).toBe('must not be empty')
		expect(said(T.String({ maxLength: 3 }), 'four')).toBe('must be at most 3 characters')
		expect(said(T.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code' }), 'usd')).toBe('expected ISO 4217 code')
		expect(said(T.String({ pattern: '^[a-z]+$' }), 'A')).toBe('must match ^[a-z]+$')
		expect(said(T.Integer({ description: 'cents' }), 1.5)).toBe('must be a whole number (cents)')
		expect(said(T.Object({ a: T.String() }), {})).toBe('is required')
	})
})

describe('secondsHint', () => {
	const now = Date.UTC(2026, 0, 1)

	test('a time under 1e11 that is near now as seconds is taken for seconds', () => {
		expect(secondsHint(now / 1000 + 600, now)).toBe(` (${now / 1000 + 600} looks like seconds; times are epoch milliseconds)`)
		expect(secondsHint(now / 1000 - 86_400 * 365, now)).not.toBe('')
	})

	test('milliseconds, small numbers and far-off seconds get no hint', () => {
		expect(secondsHint(now + 600_000, now)).toBe('')
		expect(secondsHint(5_000, now)).toBe('')
		expect(secondsHint(now / 1000 + 86_400 * 366 * 20, now)).toBe('')
	})
})
