import { liveUrl, watch } from '../../client/index.ts'
import { UsageError } from '../args.ts'
import { CLIENT_ENV, connect, urlOption } from '../api.ts'
import { afterEvent, describeEvent, describeState, type Known } from '../describe.ts'
import { defineCommand } from '../spec.ts'

export const watchCommand = defineCommand({
	name: 'watch',
	summary: "print an auction's events as they happen, until it closes",
	description:
		'One line per event on stdout (the state on each (re)subscribe goes to stderr). A dropped connection is\n' +
		'reconnected and resumed from the last event seen: nothing is missed or printed twice. Ctrl-C stops.',
	args: [{ name: 'AUCTION', help: "the auction's id" }],
	options: [
		{ name: 'since', type: 'string', value: 'SEQ', help: 'start after this event seq: 0 replays every event still kept', defaultHelp: 'now' },
		{ name: 'json', type: 'boolean', help: 'one JSON event per line, as the API sends them' },
		urlOption,
	],
	env: CLIENT_ENV.slice(0, 1),
	examples: (gavel) => [`${gavel} watch lamp`, '# from the first bid on, as JSON lines', `${gavel} watch lamp --since 0 --json`],
	async run({ values, args, program }) {
		if (values.since !== undefined && !/^\d{1,15}$/.test(values.since)) throw new UsageError(`--since must be an event seq (a whole number), got ${JSON.stringify(values.since)}`)
		const since = values.since === undefined ? undefined : Number(values.since)
		const api = connect(values, program)
		// Over HTTP first: a gavel that is not there, or an auction that is not, is one line and exit 1.
		const auction = await api.call(api.client.auctions({ id: args.AUCTION }).get())
		return follow(api.url, args.AUCTION, { since, json: values.json, softCloseMs: auction.softCloseMs, maxEndsAt: auction.maxEndsAt })
	},
})

/**
 * follow prints the auction's events until it closes (0), the watch fails for good (1), or a
 * signal stops it (0). It keeps what it knows of the end through the events, to mark a bid that
 * extended it: the state at a subscribe is the current one, not the one before a replay.
 */
function follow(url: string, auction: string, options: { since?: number; json: boolean; softCloseMs: number; maxEndsAt: number }): Promise<number> {
	let known: Known = { currency: 'USD', endsAt: null, softCloseMs: options.softCloseMs, maxEndsAt: options.maxEndsAt }
	let wentLive = false
	let refused = false
	return new Promise<number>((resolve) => {
		const finish = (code: number) => {
			watcher.close()
			resolve(code)
		}
		const watcher = watch(url, auction, {
			since: options.since,
			onState(state) {
				// The state is where the events resume only when no replay follows it (no --since, a
				// reconnect with nothing missed, or a reset); before a replay its end is the current one.
				known = { ...known, currency: state.currency, softCloseMs: state.softCloseMs, maxEndsAt: state.maxEndsAt }
				if (watcher.seq === state.seq) known = { ...known, endsAt: state.endsAt }
				if (!options.json) console.error(describeState(state))
			},
			onReset(state) {
				console.error(`reset: the events before #${state.seq} are no longer kept; continuing from the current state`)
			},
			onEvent(event) {
				console.log(options.json ? JSON.stringify(event) : describeEvent(event, known))
				known = afterEvent(known, event)
				if (event.type === 'auction.closed') finish(0)
			},
			onStatus(status) {
				if (status === 'live') wentLive = true
				if (status !== 'reconnecting') return
				if (wentLive) return void console.error('connection lost; reconnecting…')
				// The very first connect failed: say so once instead of retrying forever.
				if (!refused) console.error(`gavel: ${url} answers HTTP, but its WebSocket ${liveUrl(url)} did not connect: does this gavel run the live role?`)
				finish(1)
			},
			onError(err) {
				console.error(`gavel: ${err.code}: ${err.message}`)
				if (!wentLive) refused = true
				if (err.code === 'NOT_FOUND') finish(1)
			},
		})
		process.once('SIGINT', () => finish(0))
		process.once('SIGTERM', () => finish(0))
	})
}
