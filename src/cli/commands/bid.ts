import { GavelApiError } from '../../client/index.ts'
import { CliError, parseAmount, UsageError } from '../args.ts'
import { CLIENT_ENV, connect, jsonOption, tokenOption, urlOption, type Api } from '../api.ts'
import { describePlaced } from '../describe-auction.ts'
import { money } from '../describe.ts'
import { defineCommand } from '../spec.ts'

export const bidCommand = defineCommand({
	name: 'bid',
	summary: 'place a bid, with a hidden maximum if you like (proxy bidding)',
	description:
		'gavel bids for you up to --max whenever someone bids against you, one increment at a time; nobody sees\n' +
		'your maximum. A leader who bids again only raises the maximum (the price does not move).',
	args: [
		{ name: 'AUCTION', help: "the auction's id" },
		{ name: 'AMOUNT', help: 'your bid now, in whole minor units (cents): 1100 is 11.00' },
	],
	options: [
		{ name: 'max', type: 'string', value: 'CENTS', help: 'your hidden maximum, at least AMOUNT', defaultHelp: 'AMOUNT' },
		{ name: 'key', type: 'string', value: 'KEY', help: 'an Idempotency-Key: a retry with the same key gets the same answer, never a second bid', defaultHelp: 'none' },
		jsonOption,
		urlOption,
		tokenOption,
	],
	env: CLIENT_ENV,
	examples: (gavel) => ['# bid 11.00 now, and up to 25.00 as others bid', `${gavel} bid lamp 1100 --max 2500 --token "$BIDDER"`],
	async run({ values, args, program }) {
		const amount = parseAmount('AMOUNT', args.AMOUNT)
		const maxAmount = values.max === undefined ? undefined : parseAmount('--max', values.max)
		if (maxAmount !== undefined && maxAmount < amount) throw new UsageError(`--max must be at least AMOUNT (${amount}), got ${maxAmount}`)
		const api = connect(values, program)
		const placed = await api
			.call(
				api.client.auctions({ id: args.AUCTION }).bids.post(
					{ amount, maxAmount },
					{ headers: values.key === undefined ? {} : { 'idempotency-key': values.key } },
				),
			)
			.catch(async (err: unknown) => {
				const refusal = err instanceof CliError && err.cause instanceof GavelApiError ? err.cause : null
				if (refusal?.code === 'TOO_LOW' && typeof refusal.details.minimum === 'number')
					throw new CliError(await tooLow(api, args.AUCTION, refusal.details.minimum), { cause: refusal })
				throw err
			})
		console.log(values.json ? JSON.stringify(placed, null, 2) : describePlaced(placed, Math.max(amount, maxAmount ?? amount)))
		return 0
	},
})

/** tooLow names the minimum in the auction's currency, and in the cents the command takes. */
async function tooLow(api: Api, auction: string, minimum: number): Promise<string> {
	const currency = await api.call(api.client.auctions({ id: auction }).get()).then(
		(a) => a.currency,
		() => null,
	)
	const shown = currency === null ? `${minimum} (cents)` : `${money(minimum, currency)} ${currency}`
	return `409 TOO_LOW: the minimum bid is ${shown}: bid ${minimum} or more`
}
