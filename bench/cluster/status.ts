import { probeNatsNode, natsClusterProblems } from './nats-cluster.ts'
import { probeRedisNode, redisClusterProblems } from './redis-cluster.ts'
import { databaseProblem } from './database.ts'
import { describeReadiness, embeddedAdapters, readiness } from './gavel-instances.ts'
import { isRunning, type ClusterState, type ProcessRecord } from './state.ts'

/**
 * `bun run cluster status`: each process (running or not, by pid, and its port), what each
 * Redis node and NATS server says of itself and of its cluster, gavel's /readyz per instance,
 * and whether the database answers. Resolves to false when anything is down.
 */
export async function status(state: ClusterState, print: (line: string) => void): Promise<boolean> {
	let ok = state.phase === 'up'
	print(`gavel local cluster in ${state.dir}, started ${state.startedAt}${state.phase === 'up' ? '' : ' (not fully up: an up in progress, or one that was interrupted)'}`)
	const row = (cells: string[]) => print(`  ${cells[0]!.padEnd(7)}${cells[1]!.padEnd(12)}${cells[2]!.padEnd(21)}${cells[3]!.padEnd(24)}${cells.slice(4).join('  ')}`.trimEnd())
	const running = (r: ProcessRecord) => {
		const up = isRunning(r)
		if (!up) ok = false
		return `pid ${r.pid} ${up ? 'running' : 'DOWN'}`
	}

	if (state.redis) {
		const nodes = state.redis.nodes
		const nameOf = (port: number) => nodes.find((n) => n.port === port)?.name ?? `127.0.0.1:${port}`
		const live = nodes.filter(isRunning)
		const probes = await Promise.all(live.map((n) => probeRedisNode(n.port)))
		for (const node of nodes) {
			const probe = probes.find((p) => p.port === node.port)
			const what = !probe
				? ''
				: probe.error !== undefined
					? `does not answer: ${probe.error}`
					: `${probe.role === 'primary' ? 'primary' : `replica of ${nameOf(probe.primaryPort ?? -1)} (link ${probe.linked ? 'up' : 'DOWN'})`}  cluster_state:${probe.state}`
			row([`redis`, node.name, running(node), `127.0.0.1:${node.port}`, what])
		}
		const problems = redisClusterProblems(probes, nameOf)
		if (problems.length > 0) ok = false
		print(`  redis cluster: ${problems.length === 0 ? 'healthy (every slot served, every replica linked)' : problems.join('; ')}`)
	}

	if (state.nats) {
		const nodes = state.nats.nodes
		const live = nodes.filter(isRunning)
		const probes = await Promise.all(live.map((n) => probeNatsNode(n.monitorPort)))
		for (const node of nodes) {
			const probe = probes.find((p) => p.monitorPort === node.monitorPort)
			const what = !probe
				? ''
				: probe.error !== undefined
					? `monitoring does not answer: ${probe.error}`
					: `healthz ${probe.healthz} ${probe.healthzSays}  routes ${probe.routes}  meta leader ${probe.metaLeader || 'none'}`
			row(['nats', node.name, running(node), `127.0.0.1:${node.port}`, what])
		}
		const nameOf = (monitorPort: number) => nodes.find((n) => n.monitorPort === monitorPort)?.name ?? String(monitorPort)
		const problems = natsClusterProblems(probes, nameOf)
		if (problems.length > 0) ok = false
		print(`  nats cluster: ${problems.length === 0 ? 'healthy' : problems.join('; ')}`)
	}

	for (const instance of state.gavel) {
		const up = isRunning(instance)
		const r = up ? await readiness(instance.url) : null
		if (r && r.status !== 200) ok = false
		const embedded = r ? embeddedAdapters(r) : []
		if (embedded.length > 0) ok = false
		const what = r ? `${describeReadiness(r)}${embedded.length ? `  on embedded ${embedded.join(', ')}, not the clusters` : ''}` : ''
		row(['gavel', instance.name, running(instance), instance.url, `${instance.roles}  ${what}`])
	}

	if (state.database) {
		const problem = await databaseProblem(state.database.url)
		if (problem) ok = false
		print(`  database ${state.database.url}  ${problem ? `DOWN: ${problem}` : 'answers'}`)
	}
	print(ok ? 'everything is up' : 'something is down')
	return ok
}
