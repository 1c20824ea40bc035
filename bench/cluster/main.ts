import { parseClusterArgs, USAGE } from './args.ts'
import { takeDown } from './down.ts'
import { readState, StateError } from './state.ts'
import { status } from './status.ts'
import { up } from './up.ts'

/**
 * `bun run cluster up | down | status [--dir DIR]`: a Redis Cluster, a NATS cluster, a
 * database and gavel as deployed, all on this machine (issue 15). See bench/README.md,
 * "Local cluster".
 */

const print = (line: string) => console.log(line)

async function main(argv: string[]): Promise<number> {
	const parsed = parseClusterArgs(argv)
	if (parsed.kind === 'help') {
		console.log(USAGE)
		return 0
	}
	if (parsed.kind === 'error') {
		console.error(`cluster: ${parsed.message}\n\n${USAGE}`)
		return 2
	}
	const { args } = parsed
	try {
		if (args.command === 'up') return await up(args, print)
		const state = readState(args.dir)
		if (args.command === 'down') {
			if (!state) {
				print(`no cluster state in ${args.dir}: nothing to stop`)
				return 0
			}
			return (await takeDown(state, args.dir, print)) ? 0 : 1
		}
		if (!state) {
			print(`no cluster in ${args.dir} (bun run cluster up${args.dirGiven ? ` --dir ${args.dir}` : ''} starts one)`)
			return 1
		}
		return (await status(state, print)) ? 0 : 1
	} catch (err) {
		if (err instanceof StateError) {
			console.error(`cluster: ${err.message}`)
			return 1
		}
		throw err
	}
}

// Exits explicitly: the detached servers were let go of, but a client's socket could keep the loop alive.
process.exit(await main(Bun.argv.slice(2)))
