import type { Stack } from './stack.ts'

/**
 * The faults of a chaos run, one component at a time (docs/design.md §6, "The durability
 * promise"): each takes a component away (`inject`) and, after `downMs`, brings it back
 * (`restore`); the run then waits until bids are accepted again.
 */
export interface Fault {
	name: string
	title: string
	/** How long the component stays away. */
	downMs: number
	inject(): Promise<void>
	restore(): Promise<void>
	/** What the run waits for after `restore`, beyond a bid accepted again. */
	recovery: 'bids' | 'watchers' | 'archive'
}

/** Every fault the NATS stack knows, in the order a run injects them. */
export const NATS_FAULTS = ['api', 'live', 'archiver', 'closer', 'nats', 'postgres', 'redis'] as const
export const EMBEDDED_FAULTS = ['gavel', 'gavel-restart'] as const

export interface FaultOptions {
	/** How long a killed process or server stays down before it is started again. */
	downMs: number
	/** How long Postgres is away (the proxy cut). */
	postgresDownMs: number
	/** How nats-server is stopped: SIGKILL (a crash) or SIGTERM (a restart). */
	natsSignal: 'SIGKILL' | 'SIGTERM'
}

export function faultsFor(stack: Stack, names: readonly string[], options: FaultOptions): Fault[] {
	const kill = (process: string, title: string, recovery: Fault['recovery']): Fault => {
		const p = stack.processes.get(process)!
		return { name: process, title, downMs: options.downMs, inject: () => p.kill(), restore: () => p.start(), recovery }
	}
	return names.map((name): Fault => {
		switch (name) {
			case 'api':
				return kill('api', 'SIGKILL the api process (ROLES=api,live), start it again', 'bids')
			case 'live':
				return kill('live', 'SIGKILL the live process (ROLES=live, the raw watchers), start it again', 'watchers')
			case 'archiver':
				return kill('archiver', 'SIGKILL the archiver (ROLES=archiver), start it again', 'archive')
			case 'closer':
				return kill('closer', 'SIGKILL the closer (ROLES=closer), start it again', 'bids')
			case 'gavel':
				return kill('gavel', 'SIGKILL the all-in-one gavel (memory store, SQLite archive), start it again', 'bids')
			case 'gavel-restart': {
				const p = stack.processes.get('gavel')!
				return { name, title: 'SIGTERM the all-in-one gavel (a graceful stop), start it again', downMs: options.downMs, inject: () => p.kill('SIGTERM'), restore: () => p.start(), recovery: 'bids' }
			}
			case 'nats':
				return {
					name,
					title: `${options.natsSignal} nats-server, start it again (same port, same store dir)`,
					downMs: options.downMs,
					inject: () => stack.nats!.kill(options.natsSignal),
					restore: () => stack.nats!.start(),
					recovery: 'bids',
				}
			case 'postgres':
				return {
					name,
					title: `Postgres away for ${options.postgresDownMs / 1000} s (the proxy cut)`,
					downMs: options.postgresDownMs,
					inject: () => stack.postgres!.cut(),
					restore: () => stack.postgres!.restore(),
					recovery: 'archive',
				}
			case 'redis':
				return {
					name,
					title: 'SIGKILL redis-server, start an empty one (same port)',
					downMs: options.downMs,
					inject: () => stack.redis!.kill('SIGKILL'),
					restore: () => stack.redis!.start(),
					recovery: 'bids',
				}
			default:
				throw new Error(`unknown fault ${name} for the ${stack.kind} stack`)
		}
	})
}
