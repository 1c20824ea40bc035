import type { TSchema } from '@sinclair/typebox'
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors'
import { Value } from '@sinclair/typebox/value'

/** What a request's schema failure says about itself: TypeBox's error, with Elysia's summary. */
export interface SchemaFailure {
	type: ValueErrorType
	schema: TSchema
	path: string
	value: unknown
	message: string
	summary?: string
}

interface SchemaFacts {
	type?: string | string[]
	const?: unknown
	anyOf?: TSchema[]
	description?: string
	minimum?: number
	maximum?: number
	exclusiveMinimum?: number
	exclusiveMaximum?: number
	minLength?: number
	maxLength?: number
	minItems?: number
	maxItems?: number
	pattern?: string
}

const facts = (schema: TSchema): SchemaFacts => schema as SchemaFacts

/**
 * describeFailure words a schema failure for people, after the field's name: the choices of a
 * union of literals; for any other union, the failure of the branch the value's type fits (an
 * `increment` of 0 is a step below 1, not "neither an integer nor an array") with the other
 * branches as alternatives; else what the rule that failed asks for.
 */
export function describeFailure(failure: SchemaFailure): string {
	const { anyOf } = facts(failure.schema)
	if (anyOf && anyOf.length > 0) {
		const choices = anyOf.map((s) => facts(s).const)
		if (choices.every((c) => c !== undefined)) return `must be one of ${choices.join(', ')}`
		return describeUnionFailure(anyOf, failure.value)
	}
	return describeRule(failure, true)
}

function describeUnionFailure(branches: TSchema[], value: unknown): string {
	const fitting = branches.find((branch) => fitsType(branch, value))
	if (!fitting) return `must be ${branches.map(noun).join(' or ')}`
	const inner = Value.Errors(fitting, value).First()
	if (!inner) return `must be ${branches.map(noun).join(' or ')}`
	// Inside the branch (a tier of a list): name where, and the alternatives are beside the point.
	if (inner.path !== '') return `${pathWithin(inner.path)} ${describeFailure(inner)}`
	const others = branches.filter((b) => b !== fitting).map(noun)
	const own = facts(inner.schema).anyOf ? describeFailure(inner) : describeRule(inner, false)
	return `${own} (or ${others.join(' or ')})`
}

/** describeRule says what the failed rule asks for; `withDescription` adds the schema's own words where the rule is about form. */
function describeRule(failure: SchemaFailure | ValueError, withDescription: boolean): string {
	const s = facts(failure.schema)
	const about = withDescription && s.description ? ` (${s.description})` : ''
	switch (failure.type) {
		case ValueErrorType.Integer:
		case ValueErrorType.Number:
		case ValueErrorType.String:
		case ValueErrorType.Boolean:
		case ValueErrorType.Array:
		case ValueErrorType.Object:
		case ValueErrorType.Null:
			return `must be ${typeNoun(s.type)}${about}`
		case ValueErrorType.IntegerMinimum:
		case ValueErrorType.NumberMinimum:
			return `must be at least ${s.minimum}`
		case ValueErrorType.IntegerMaximum:
		case ValueErrorType.NumberMaximum:
			return `must be at most ${s.maximum}`
		case ValueErrorType.IntegerExclusiveMinimum:
		case ValueErrorType.NumberExclusiveMinimum:
			return `must be more than ${s.exclusiveMinimum}`
		case ValueErrorType.IntegerExclusiveMaximum:
		case ValueErrorType.NumberExclusiveMaximum:
			return `must be less than ${s.exclusiveMaximum}`
		case ValueErrorType.StringMinLength:
			return s.minLength === 1 ? 'must not be empty' : `must be at least ${s.minLength} characters`
		case ValueErrorType.StringMaxLength:
			return `must be at most ${s.maxLength} characters`
		case ValueErrorType.StringPattern:
			return s.description ? `expected ${s.description}` : `must match ${s.pattern}`
		case ValueErrorType.ArrayMinItems:
			return `must have at least ${s.minItems} ${s.minItems === 1 ? 'item' : 'items'}`
		case ValueErrorType.ArrayMaxItems:
			return `must have at most ${s.maxItems} ${s.maxItems === 1 ? 'item' : 'items'}`
		case ValueErrorType.ObjectRequiredProperty:
			return 'is required'
		case ValueErrorType.ObjectAdditionalProperties:
			return 'is not a known field'
		default:
			return failure.message === 'Expected union value' ? ('summary' in failure && failure.summary) || failure.message : failure.message
	}
}

/** Whether `value` is of the JSON type a union branch takes (a fraction fits an integer branch: its failure then says "whole number"). */
function fitsType(branch: TSchema, value: unknown): boolean {
	const s = facts(branch)
	if (s.anyOf) return s.anyOf.some((b) => fitsType(b, value))
	if (s.const !== undefined) return typeof s.const === typeof value
	const types = Array.isArray(s.type) ? s.type : s.type === undefined ? [] : [s.type]
	return types.some((type) => {
		switch (type) {
			case 'integer':
			case 'number':
				return typeof value === 'number'
			case 'array':
				return Array.isArray(value)
			case 'object':
				return typeof value === 'object' && value !== null && !Array.isArray(value)
			case 'null':
				return value === null
			default:
				return typeof value === type
		}
	})
}

/** A union branch as an alternative: its own description, else its type. */
function noun(schema: TSchema): string {
	const s = facts(schema)
	if (s.description) return s.description
	if (s.const !== undefined) return JSON.stringify(s.const)
	return typeNoun(s.type)
}

function typeNoun(type: string | string[] | undefined): string {
	if (Array.isArray(type)) return type.map((t) => typeNoun(t)).join(' or ')
	switch (type) {
		case 'integer':
			return 'a whole number'
		case 'number':
			return 'a number'
		case 'string':
			return 'a string'
		case 'boolean':
			return 'true or false'
		case 'array':
			return 'a list'
		case 'object':
			return 'an object'
		case 'null':
			return 'null'
		default:
			return 'a valid value'
	}
}

/** `/0/step` → `[0].step`: where inside the field the failure is. */
function pathWithin(pointer: string): string {
	return pointer
		.split('/')
		.slice(1)
		.map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part}`))
		.join('')
		.replace(/^\./, '')
}
