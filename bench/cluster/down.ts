import { rm } from 'node:fs/promises'
import { stopPid } from '../lib/servers.ts'
import { dropDatabase } from './database.ts'
import type { ClusterState, ProcessRecord } from './state.ts'

/** gavel drains its bids and flushes its bus within SHUTDOWN_TIMEOUT_MS (10 s by default). */
const GAVEL_GRACE_MS = 15_000
const SERVER_GRACE_MS = 10_000

/**
 * Takes down what a state names: gavel first (it drains into the servers), then the NATS and
 * Redis nodes, each by pid with SIGTERM and SIGKILL after a grace period; then the database if
 * `up` created it, then the dir. Says what it did, line by line. A process already gone is no
 * error, so it can run again; false when something could not be undone (the dir then stays,
 * with its state, for the next try).
 */
export async function takeDown(state: ClusterState, dir: string, print: (line: string) => void): Promise<boolean> {
	// In parallel, said in the state's order.
	const stopAll = async (records: ProcessRecord[], graceMs: number) => {
		const stopped = await Promise.all(records.map((r) => stopPid(r.pid, { graceMs, commandIncludes: r.command })))
		for (const [i, r] of records.entries()) print(stopped[i] ? `stopped ${r.kind} ${r.name} (pid ${r.pid}, port ${r.port})` : `${r.kind} ${r.name} (pid ${r.pid}) was not running`)
	}
	await stopAll(state.gavel, GAVEL_GRACE_MS)
	await stopAll([...(state.nats?.nodes ?? []), ...(state.redis?.nodes ?? [])], SERVER_GRACE_MS)
	const created = state.database?.created
	if (created) {
		try {
			await dropDatabase(created.adminUrl, created.name)
			print(`dropped database ${created.name}`)
		} catch (err) {
			print(`could not drop database ${created.name} (${(err as Error).message}); ${dir} stays: run down again`)
			return false
		}
	}
	await rm(dir, { recursive: true, force: true })
	print(`removed ${dir}`)
	return true
}
