import type { Command } from '../spec.ts'
import { auctionCreateCommand, auctionListCommand, auctionShowCommand } from './auction.ts'
import { bidCommand } from './bid.ts'
import { healthCommand } from './health.ts'
import { migrateCommand } from './migrate.ts'
import { serveCommand } from './serve.ts'
import { tokenCommand } from './token.ts'
import { versionCommand } from './version.ts'
import { watchCommand } from './watch.ts'

/** Every command, in the order `gavel --help` lists them. */
export const COMMANDS: readonly Command[] = [
	serveCommand,
	tokenCommand,
	auctionCreateCommand,
	auctionListCommand,
	auctionShowCommand,
	bidCommand,
	watchCommand,
	healthCommand,
	migrateCommand,
	versionCommand,
]

export { serveCommand, versionCommand }
