import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pidRunning } from '../lib/servers.ts'

/**
 * state.json: what `bun run cluster up` started, so that `down` and `status`, in other
 * processes, find every process by pid and know what else to undo (the database, the dir).
 * Written after each step of `up`, so an interrupted `up` can still be taken down.
 */

export const STATE_FILE = 'state.json'
export const STATE_VERSION = 1

export interface ProcessRecord {
	kind: 'redis' | 'nats' | 'gavel'
	name: string
	pid: number
	port: number
	/** Part of its /proc cmdline: tells our process from a later one that reuses the pid. */
	command: string
	/** Where its output goes. */
	log: string
}

export interface RedisRecord extends ProcessRecord {
	kind: 'redis'
	busPort: number
}

export interface NatsRecord extends ProcessRecord {
	kind: 'nats'
	clusterPort: number
	monitorPort: number
}

export interface GavelRecord extends ProcessRecord {
	kind: 'gavel'
	roles: string
	url: string
	dataDir: string
}

export interface DatabaseRecord {
	/** DATABASE_URL for gavel. */
	url: string
	/** Set when `up` created the database: `down` drops it through `adminUrl`. */
	created: { name: string; adminUrl: string } | null
}

export interface ClusterState {
	version: typeof STATE_VERSION
	/** `starting` until every part is up (or an `up` that was interrupted). */
	phase: 'starting' | 'up'
	dir: string
	startedAt: string
	/** The file holding AUTH_JWT_SECRET (also what `gavel token` and the bench sign with). */
	secretFile: string
	redis: { seeds: string; nodes: RedisRecord[] } | null
	nats: { url: string; nodes: NatsRecord[] } | null
	database: DatabaseRecord | null
	gavel: GavelRecord[]
}

export const statePath = (dir: string) => join(dir, STATE_FILE)

export function emptyState(dir: string, secretFile: string, now = new Date()): ClusterState {
	return { version: STATE_VERSION, phase: 'starting', dir, startedAt: now.toISOString(), secretFile, redis: null, nats: null, database: null, gavel: [] }
}

/** Writes state.json whole or not at all (a rename), so a crash never leaves half a file. */
export function writeState(state: ClusterState): void {
	const file = statePath(state.dir)
	writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`)
	renameSync(`${file}.tmp`, file)
}

export class StateError extends Error {
	override name = 'StateError'
}

/** The state in `dir`, null when there is none; a file that is not one throws StateError naming it. */
export function readState(dir: string): ClusterState | null {
	let text: string
	try {
		text = readFileSync(statePath(dir), 'utf8')
	} catch (err) {
		if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
		throw err
	}
	let state: unknown
	try {
		state = JSON.parse(text)
	} catch {
		throw new StateError(`${statePath(dir)} is not JSON`)
	}
	const problem = stateProblem(state)
	if (problem) throw new StateError(`${statePath(dir)} is not a cluster state: ${problem}`)
	return state as ClusterState
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function recordProblem(r: unknown, kind: ProcessRecord['kind']): string | null {
	if (!isObject(r)) return `a ${kind} process is not an object`
	if (r.kind !== kind) return `a ${kind} process says kind ${JSON.stringify(r.kind)}`
	if (typeof r.name !== 'string') return `a ${kind} process has no name`
	for (const field of ['pid', 'port'] as const) if (!Number.isInteger(r[field]) || (r[field] as number) <= 0) return `${r.name}: ${field} is not a positive whole number`
	if (typeof r.command !== 'string' || r.command === '') return `${r.name}: no command`
	return null
}

/** Why a parsed value is not a ClusterState this version reads (enough to act on pids safely), or null. */
export function stateProblem(state: unknown): string | null {
	if (!isObject(state)) return 'not an object'
	if (state.version !== STATE_VERSION) return `version ${JSON.stringify(state.version)}, this tool reads ${STATE_VERSION}`
	if (state.phase !== 'starting' && state.phase !== 'up') return `phase ${JSON.stringify(state.phase)}`
	if (typeof state.dir !== 'string' || typeof state.secretFile !== 'string') return 'no dir or secretFile'
	const groups: Array<[unknown, ProcessRecord['kind']]> = [
		[state.redis, 'redis'],
		[state.nats, 'nats'],
	]
	for (const [group, kind] of groups) {
		if (group === null) continue
		if (!isObject(group) || !Array.isArray(group.nodes)) return `${kind} has no nodes`
		for (const node of group.nodes) {
			const problem = recordProblem(node, kind)
			if (problem) return problem
		}
	}
	if (!Array.isArray(state.gavel)) return 'gavel is not a list'
	for (const instance of state.gavel) {
		const problem = recordProblem(instance, 'gavel')
		if (problem) return problem
	}
	if (state.database !== null && (!isObject(state.database) || typeof state.database.url !== 'string')) return 'database has no url'
	return null
}

/** Every process of the state, gavel first: the order to stop them in (gavel drains into the servers it uses). */
export function processesOf(state: ClusterState): ProcessRecord[] {
	return [...state.gavel, ...(state.nats?.nodes ?? []), ...(state.redis?.nodes ?? [])]
}

/** Whether this record's process is still the one we started and alive. */
export const isRunning = (record: ProcessRecord) => pidRunning(record.pid, record.command)
