import { mkdir, rm } from 'node:fs/promises'
import { pidRunning, type Children, type OwnServer } from '../lib/servers.ts'

/** What every node of a local cluster has, whatever the server. */
export interface ClusterNode {
	readonly name: string
	readonly dir: string
	readonly pid: number | undefined
}

/**
 * createNodeSet keeps the processes of a local cluster (the Redis and the NATS launchers share
 * it): each node with its server, started, killed, restarted and stopped by pid, its dir removed
 * at stop, and, when the run is attached, also if it is interrupted.
 */
export function createNodeSet<N extends ClusterNode>({ dir, children, detached }: { dir: string; children: Children; detached: boolean }) {
	const servers = new Map<N, OwnServer>()
	const nodes: N[] = []
	// Attached: an interrupted run removes the dir too (the processes are in `children`).
	const forgetDir = detached ? () => {} : children.defer(() => rm(dir, { recursive: true, force: true }))
	const serverOf = (node: N) => {
		const server = servers.get(node)
		if (!server) throw new Error(`${node.name} is not a node of this cluster`)
		return server
	}
	return {
		nodes: nodes as readonly N[],
		add(node: N, server: OwnServer) {
			servers.set(node, server)
			nodes.push(node)
		},
		/** The nodes whose process runs now. */
		running: () => nodes.filter((n) => n.pid !== undefined && pidRunning(n.pid)),
		kill: (node: N, signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL') => serverOf(node).kill(signal),
		restart: (node: N) => serverOf(node).start(),
		async startAll() {
			await Promise.all(nodes.map((n) => mkdir(n.dir, { recursive: true })))
			await Promise.all([...servers.values()].map((s) => s.start()))
		},
		/** Polls `problems` until it finds none; past `ms` throws them, under `what`. */
		async waitUntilNone(problems: () => Promise<string[]>, what: string, ms: number) {
			const deadline = Date.now() + ms
			for (;;) {
				const found = await problems()
				if (found.length === 0) return
				if (Date.now() > deadline) throw new Error(`${what} is not healthy after ${ms} ms:\n  ${found.join('\n  ')}`)
				await Bun.sleep(100)
			}
		},
		async stop() {
			await Promise.all([...servers.values()].map((s) => s.kill('SIGTERM')))
			await rm(dir, { recursive: true, force: true })
			forgetDir()
		},
	}
}
