// What a 422 says, over real HTTP: the field, and a message that fits the value that was sent.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { auctionBody, startTestGavel, type TestGavel } from '../helpers/gavel.ts'

let g: TestGavel
let seller: string
beforeAll(async () => {
	g = await startTestGavel()
	seller = await g.token('sam', ['seller'])
})
afterAll(() => g.stop())

async function refusal(path: string, body: unknown, token = seller) {
	const res = await fetch(`${g.url}${path}`, {
		method: 'POST',
		headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
		body: JSON.stringify(body),
	})
	expect(res.status).toBe(422)
	return ((await res.json()) as { error: { code: string; message: string; field: string } }).error
}

const TIERS = '(or a list of tiers {from, step}: from 0 up, sorted by from)'

describe('a union of a number and a list reports the branch the value fits', () => {
	test.each([
		['0', 0, `increment: must be at least 1 ${TIERS}`],
		['a negative step', -5, `increment: must be at least 1 ${TIERS}`],
		['a fraction', 1.5, `increment: must be a whole number ${TIERS}`],
		['an empty list', [], 'increment: must have at least 1 item (or a fixed step in minor units)'],
		['a tier with a zero step', [{ from: 0, step: 0 }], 'increment: [0].step must be at least 1'],
		['a tier without a step', [{ from: 0 }], 'increment: [0].step is required'],
		['a tier with an unknown field', [{ from: 0, step: 5, by: 1 }], 'increment: [0].by is not a known field'],
		['a string', 'ten', 'increment: must be a fixed step in minor units or a list of tiers {from, step}: from 0 up, sorted by from'],
	])('an increment of %s', async (_, increment, message) => {
		const error = await refusal('/auctions', auctionBody({ increment }))
		expect(error).toMatchObject({ code: 'VALIDATION', field: 'increment', message })
	})
})

describe('a time that looks like epoch seconds says so', () => {
	const nowSeconds = () => Math.floor(Date.now() / 1000)

	test('endsAt in seconds, no startsAt: "must be after startsAt" with the hint', async () => {
		const endsAt = nowSeconds() + 600
		const error = await refusal('/auctions', auctionBody({ endsAt }))
		expect(error).toMatchObject({ field: 'endsAt', message: `endsAt: must be after startsAt (${endsAt} looks like seconds; times are epoch milliseconds)` })
	})

	test('startsAt and endsAt both in seconds: "must be in the future" with the hint', async () => {
		const error = await refusal('/auctions', auctionBody({ startsAt: nowSeconds(), endsAt: nowSeconds() + 600 }))
		expect(error.field).toBe('endsAt')
		expect(error.message).toStartWith('endsAt: must be in the future (')
		expect(error.message).toEndWith('looks like seconds; times are epoch milliseconds)')
	})

	test('maxEndsAt in seconds gets the hint too', async () => {
		const error = await refusal('/auctions', auctionBody({ maxEndsAt: nowSeconds() + 3600 }))
		expect(error).toMatchObject({ field: 'maxEndsAt', message: expect.stringContaining('looks like seconds; times are epoch milliseconds') })
	})

	test('a time in milliseconds that is simply wrong gets no hint', async () => {
		const past = await refusal('/auctions', auctionBody({ endsAt: Date.now() - 1000 }))
		expect(past).toMatchObject({ field: 'endsAt', message: 'endsAt: must be after startsAt' })
		const tiny = await refusal('/auctions', auctionBody({ endsAt: 5000 }))
		expect(tiny.message).toBe('endsAt: must be after startsAt')
	})
})

describe('other rules say what they ask for', () => {
	test.each([
		['a zero starting price', { startingPrice: 0 }, 'startingPrice', 'startingPrice: must be at least 1'],
		['an absurd starting price', { startingPrice: 1e15 }, 'startingPrice', 'startingPrice: must be at most 1000000000000'],
		['a starting price as a string', { startingPrice: '1000' }, 'startingPrice', 'startingPrice: must be a whole number (integer minor units, e.g. cents)'],
		['an empty title', { title: '' }, 'title', 'title: must not be empty'],
		['a lower-case currency', { currency: 'usd' }, 'currency', 'currency: expected ISO 4217 code'],
		['an unknown field', { colour: 'red' }, 'colour', 'colour: is not a known field'],
	])('%s', async (_, overrides, field, message) => {
		expect(await refusal('/auctions', auctionBody(overrides))).toMatchObject({ code: 'VALIDATION', field, message })
	})

	test('a bid amount that is not a whole number, and a missing one', async () => {
		const { id } = (await (
			await fetch(`${g.url}/auctions`, {
				method: 'POST',
				headers: { 'content-type': 'application/json', authorization: `Bearer ${seller}` },
				body: JSON.stringify(auctionBody()),
			})
		).json()) as { id: string }
		const bob = await g.token('bob')
		expect(await refusal(`/auctions/${id}/bids`, { amount: 10.5 }, bob)).toMatchObject({ field: 'amount', message: 'amount: must be a whole number (integer minor units, e.g. cents)' })
		expect(await refusal(`/auctions/${id}/bids`, {}, bob)).toMatchObject({ field: 'amount', message: 'amount: is required' })
	})
})
