import type { AuctionView } from '../../domain/auction.ts'
import type { BidPlaced } from '../../events.ts'
import { GavelApiError } from '../../client/index.ts'
import { CliError, parseAmount, parseCount, parseDuration } from '../args.ts'
import { CLIENT_ENV, connect, jsonOption, tokenOption, urlOption } from '../api.ts'
import { auctionTable, describeAuction, describeCreated } from '../describe-auction.ts'
import { defineCommand } from '../spec.ts'

/** The API's field names as the options that set them, so a refusal names what to change on the command line. */
const OPTION_OF_FIELD: Record<string, string> = {
	id: '--id',
	title: '--title',
	startingPrice: '--starting-price',
	increment: '--increment',
	endsAt: '--ends-in',
	startsAt: '--starts-in',
	reservePrice: '--reserve',
	buyNowPrice: '--buy-now',
	softCloseMs: '--soft-close',
	currency: '--currency',
}

export const auctionCreateCommand = defineCommand({
	name: 'auction create',
	summary: 'open an auction (takes a seller token)',
	description: 'Amounts are whole minor units (cents): 1000 is 10.00. Durations: 30s, 10m, 2h, 1d.',
	options: [
		{ name: 'id', type: 'string', value: 'ID', help: "the auction's id in URLs and bids: 1–64 of A-Z a-z 0-9 _ -", defaultHelp: 'one the server makes up' },
		{ name: 'title', type: 'string', value: 'TEXT', required: true, help: 'what is for sale' },
		{ name: 'starting-price', type: 'string', value: 'CENTS', required: true, help: 'the lowest first bid' },
		{ name: 'increment', type: 'string', value: 'CENTS', required: true, help: 'how much each bid must add to the price' },
		{ name: 'ends-in', type: 'string', value: 'DURATION', default: '10m', help: 'when bidding ends, from now' },
		{ name: 'starts-in', type: 'string', value: 'DURATION', help: 'when bidding opens, from now', defaultHelp: 'now' },
		{ name: 'reserve', type: 'string', value: 'CENTS', help: 'the lowest price it sells at, hidden from bidders', defaultHelp: 'none' },
		{ name: 'buy-now', type: 'string', value: 'CENTS', help: 'a bid of this much wins at once, until the reserve is met (or the first bid)', defaultHelp: 'none' },
		{ name: 'soft-close', type: 'string', value: 'DURATION', help: 'a bid this close to the end moves the end this far out', defaultHelp: 'none' },
		{ name: 'currency', type: 'string', value: 'CODE', help: 'ISO 4217 code of the amounts', defaultHelp: 'USD' },
		jsonOption,
		urlOption,
		tokenOption,
	],
	env: CLIENT_ENV,
	examples: (gavel) => [
		'# a brass lamp from 10.00, in steps of 1.00, for ten minutes',
		`${gavel} auction create --id lamp --title "Brass lamp" --starting-price 1000 --increment 100 --ends-in 10m --token "$SELLER"`,
	],
	async run({ values, program }) {
		const startingPrice = parseAmount('--starting-price', values['starting-price'])
		const increment = parseAmount('--increment', values.increment)
		const endsIn = parseDuration(values['ends-in'], '--ends-in')
		const startsIn = values['starts-in'] === undefined ? undefined : parseDuration(values['starts-in'], '--starts-in')
		const reservePrice = values.reserve === undefined ? undefined : parseAmount('--reserve', values.reserve)
		const buyNowPrice = values['buy-now'] === undefined ? undefined : parseAmount('--buy-now', values['buy-now'])
		const softCloseMs = values['soft-close'] === undefined ? undefined : parseDuration(values['soft-close'], '--soft-close')
		const api = connect(values, program)
		const now = Date.now()
		const auction = await api
			.call(
				api.client.auctions.post({
					id: values.id,
					title: values.title,
					startingPrice,
					increment,
					endsAt: now + endsIn,
					startsAt: startsIn === undefined ? undefined : now + startsIn,
					reservePrice,
					buyNowPrice,
					softCloseMs,
					currency: values.currency,
				}),
			)
			.catch((err: unknown) => {
				const api = err instanceof CliError && err.cause instanceof GavelApiError ? err.cause : null
				const option = typeof api?.details.field === 'string' ? OPTION_OF_FIELD[api.details.field] : undefined
				throw option === undefined ? err : new CliError(`${(err as Error).message} (${option})`, { cause: api })
			})
		console.log(values.json ? JSON.stringify(auction, null, 2) : describeCreated(auction, Date.now(), reservePrice))
		return 0
	},
})

/** The API's largest page (GET /auctions ?limit=); more is read page by page with its cursor. */
const API_PAGE_MAX = 200
const LIST_MAX = 10_000

export const auctionListCommand = defineCommand({
	name: 'auction list',
	summary: 'list auctions, newest first',
	options: [
		{ name: 'status', type: 'string', value: 'STATUS', choices: ['open', 'scheduled', 'closed'], help: 'only auctions in this state', defaultHelp: 'every state' },
		{ name: 'limit', type: 'string', value: 'N', default: '20', help: `how many at most, 1 to ${LIST_MAX}; past ${API_PAGE_MAX} it reads page by page` },
		jsonOption,
		urlOption,
	],
	env: CLIENT_ENV.slice(0, 1),
	examples: (gavel) => [`${gavel} auction list --status open`, '# for scripts: the auctions as the API gives them', `${gavel} auction list --limit 500 --json`],
	async run({ values, program }) {
		const limit = parseCount('--limit', values.limit, { min: 1, max: LIST_MAX })
		const status = values.status as AuctionView['status'] | undefined
		const api = connect(values, program)
		const items: AuctionView[] = []
		let cursor: string | undefined
		let nextCursor: string | null = null
		do {
			const page = await api.call(
				api.client.auctions.get({ query: { status, cursor, limit: String(Math.min(API_PAGE_MAX, limit - items.length)) } }),
			)
			items.push(...page.items)
			nextCursor = page.nextCursor
			cursor = nextCursor ?? undefined
		} while (nextCursor !== null && items.length < limit)
		if (values.json) console.log(JSON.stringify({ items, nextCursor }, null, 2))
		else if (items.length === 0) console.log(`no ${status === undefined ? '' : `${status} `}auctions`)
		else {
			console.log(auctionTable(items, Date.now()))
			if (nextCursor !== null) console.error(`(the newest ${items.length}; there are more: --limit ${Math.min(LIST_MAX, limit * 2)})`)
		}
		return 0
	},
})

/** How many of the last bids `auction show` prints. */
const SHOWN_BIDS = 10

export const auctionShowCommand = defineCommand({
	name: 'auction show',
	summary: 'one auction: its state, settings and last bids',
	args: [{ name: 'AUCTION', help: "the auction's id" }],
	options: [jsonOption, urlOption],
	env: CLIENT_ENV.slice(0, 1),
	examples: (gavel) => [`${gavel} auction show lamp`],
	async run({ values, args, program }) {
		const api = connect(values, program)
		const auction = await api.call(api.client.auctions({ id: args.AUCTION }).get())
		// The history comes from the archive: when it is down, the auction is still worth showing.
		const bids = await api.call(api.client.auctions({ id: args.AUCTION }).bids.get({ query: { limit: String(SHOWN_BIDS) } })).then(
			(page): { items: BidPlaced[] } | { unavailable: string } => page,
			(err: unknown) => ({ unavailable: (err as Error).message }),
		)
		if (values.json) console.log(JSON.stringify({ auction, bids: 'items' in bids ? bids.items : null }, null, 2))
		else console.log(describeAuction(auction, 'items' in bids ? { bids: bids.items } : bids, Date.now()))
		return 0
	},
})
