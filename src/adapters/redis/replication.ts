import calculateSlot from 'cluster-key-slot'
import { Cluster, type Redis } from 'ioredis'

export interface ReplicationWaiterOptions {
	/**
	 * A client of its own (a duplicate of the store's): WAIT blocks the connection it is sent on,
	 * and the store's connection must go on running scripts meanwhile.
	 */
	client: Redis | Cluster
	/** The store's own client: its slot map says which node did a write. */
	writer?: Redis | Cluster
	/** How many replicas must hold a write before it counts as done. */
	replicas: number
	/** How long a round waits for them; past it the writes go on without (and `onShort` says so). */
	timeoutMs: number
	/** Fewer replicas than asked held a round of `writes` writes (in time, or at all: none connected). */
	onShort?: (acked: number, writes: number) => void
	/** How long a round that fails (a failover under way) is tried again before its writes' fate is unknown. */
	retryForMs?: number
}

export type ReplicationWaiter = ReturnType<typeof createReplicationWaiter>

interface Waiting {
	key: string
	/** Whether the write is on the key's primary now: asked when the round could not go to the node that did it. */
	present: () => Promise<boolean>
	resolve(): void
	reject(err: unknown): void
}

/** What a short round taught about a node: its connected replicas, and when that was read. */
interface Degraded {
	connected: number
	at: number
}

/** How long a round's marker key lives: it only has to outlast its own WAIT. */
const MARKER_TTL_MS = 60_000
const DEFAULT_RETRY_FOR_MS = 10_000
const MAX_RETRY_DELAY_MS = 500
/** A node short of replicas is asked again this often whether they are back. */
const RECHECK_MS = 1_000

/**
 * createReplicationWaiter makes a write wait until `replicas` replicas of its node hold it
 * (docs/design.md §6, "Replication"): Redis replicates asynchronously, and a primary that dies
 * before its replica has a write it answered would let the promoted replica hand out that seq a
 * second time, for another bid, while the log already holds the first.
 *
 * Group commit, per node: WAIT covers every write its node made before it, so the writes that
 * finish while a round is out all wait for the next one, and a node sees one marker write and
 * one WAIT per round, not per bid. The marker is written on the waiter's own connection, after
 * the writes it covers (WAIT counts from the connection's last write; the node's replication
 * offset only grows, so a replica that has the marker has everything before it).
 *
 * A node with fewer replicas connected than asked (its replica died, or it was just promoted and
 * the old primary is not back yet) cannot be failed over to a replica that lacks the writes, so
 * its rounds wait for the replicas it has (none: no WAIT at all) instead of the timeout each
 * round, and count as short; once a second it asks again whether they are back.
 */
export function createReplicationWaiter({ client, writer = client, replicas, timeoutMs, onShort, retryForMs = DEFAULT_RETRY_FOR_MS }: ReplicationWaiterOptions) {
	const cluster = client instanceof Cluster ? client : null
	// Writes on one node share a round; on one Redis there is one node. An unknown slot owner (a
	// slot map being refreshed) is a group of its own.
	const ownerIn = (map: Redis | Cluster, key: string) => (map instanceof Cluster ? (map.slots[calculateSlot(key)]?.[0] ?? 'unknown') : 'node')
	const nodeOf = (key: string) => ownerIn(writer, key)
	const queues = new Map<string, Waiting[]>()
	const running = new Set<string>()
	const degraded = new Map<string, Degraded>()

	async function round(node: string): Promise<void> {
		running.add(node)
		try {
			for (let batch = queues.get(node); batch && batch.length > 0; batch = queues.get(node)) {
				queues.delete(node)
				try {
					const known = degraded.get(node)
					const want = known && Date.now() - known.at < RECHECK_MS ? known.connected : replicas
					const { acked, elsewhere } = await waitFor(batch[0]!.key, node, want)
					if (acked < replicas) onShort?.(acked, batch.length)
					// Short: learn how many replicas it has. A degraded node is asked for all of them again
					// once its reading is a second old (that round may wait the timeout once).
					if (acked < want) await recheck(node, batch[0]!.key)
					else if (want === replicas) degraded.delete(node)
					if (!elsewhere) for (const w of batch) w.resolve()
					else await Promise.all(batch.map((w) => confirm(w)))
				} catch (err) {
					for (const w of batch) w.reject(err)
				}
			}
		} finally {
			running.delete(node)
		}
	}

	/** Reads how many replicas the node has connected (ROLE), on the node that holds the key's slot. */
	async function recheck(node: string, key: string): Promise<void> {
		const replies = await client.pipeline().set(`${key}:replicated`, '1', 'PX', MARKER_TTL_MS).role().exec().catch(() => null)
		const role = replies?.[1]?.[1] as [string, number, unknown[]] | undefined
		const connected = role?.[0] === 'master' && Array.isArray(role[2]) ? role[2].length : 0
		if (connected >= replicas) degraded.delete(node)
		else degraded.set(node, { connected, at: Date.now() })
	}

	/**
	 * A round that went to another node than the one that did the writes (a failover moved the
	 * slot) proves nothing about them: each write is looked for on the slot's primary now. One that
	 * is not there was lost with the old primary, before any replica had it; it was never published
	 * (that comes after this wait), so the client's retry decides the bid afresh.
	 */
	async function confirm(w: Waiting): Promise<void> {
		try {
			if (await w.present()) w.resolve()
			else w.reject(new Error('the write was lost in a Redis failover before a replica held it; it was not published: retry'))
		} catch (err) {
			w.reject(err)
		}
	}

	async function waitFor(key: string, node: string, want: number): Promise<{ acked: number; elsewhere: boolean }> {
		const started = Date.now()
		for (let attempt = 1; ; attempt++) {
			// Same hash tag as the key, so the marker and the WAIT go to the node that holds its slot now.
			const elsewhere = attempt > 1 || ownerIn(client, key) !== node
			try {
				if (want === 0 && !elsewhere) return { acked: 0, elsewhere }
				const pipeline = client.pipeline().set(`${key}:replicated`, '1', 'PX', MARKER_TTL_MS)
				if (want > 0) pipeline.wait(want, timeoutMs)
				const replies = await pipeline.exec()
				for (const [err] of replies ?? []) if (err) throw err
				return { acked: want > 0 ? Number(replies?.[1]?.[1] ?? 0) : 0, elsewhere }
			} catch (err) {
				// Mid-failover the slot has moved (MOVED) or has no primary yet (CLUSTERDOWN), and ioredis
				// follows a pipeline's redirect only when all its commands got it: refresh the slot map and
				// go again, on the node that holds the key now. Past the budget the writes' fate is unknown.
				if (Date.now() - started >= retryForMs)
					throw new Error(`cannot confirm the write reached a replica: ${(err as Error).message}`, { cause: err })
				cluster?.refreshSlotsCache()
				await Bun.sleep(Math.min(100 * attempt, MAX_RETRY_DELAY_MS))
			}
		}
	}

	function enqueue(waiting: Waiting): void {
		const node = nodeOf(waiting.key)
		const queue = queues.get(node)
		if (queue) queue.push(waiting)
		else queues.set(node, [waiting])
		if (!running.has(node)) void round(node)
	}

	return {
		/**
		 * Resolves once the write just made to `key`'s node is on `replicas` replicas (or the timeout
		 * passed); `present` tells whether the write is on the slot's primary, for a failover meanwhile.
		 */
		wait(key: string, present: () => Promise<boolean>): Promise<void> {
			return new Promise<void>((resolve, reject) => enqueue({ key, present, resolve, reject }))
		},
	}
}
