// What the local clusters' waitHealthy and `cluster status` call healthy (bench/cluster/), from
// the nodes' answers: each way a cluster can be unhealthy is named, and a healthy one is not.
import { describe, expect, test } from 'bun:test'
import { redisClusterProblems, type RedisNodeProbe } from '../../bench/cluster/redis-cluster.ts'
import { natsClusterProblems, type NatsNodeProbe } from '../../bench/cluster/nats-cluster.ts'

describe('Redis Cluster health', () => {
	// Three primaries on 1, 2, 3 and their replicas on 4, 5, 6.
	const slots = [
		{ start: 0, end: 5460, port: 1 },
		{ start: 5461, end: 10922, port: 2 },
		{ start: 10923, end: 16383, port: 3 },
	]
	const healthy = (): RedisNodeProbe[] => [
		...[1, 2, 3].map((port) => ({ port, state: 'ok', slotsOk: 16384, role: 'primary' as const, slots })),
		...[4, 5, 6].map((port) => ({ port, state: 'ok', slotsOk: 16384, role: 'replica' as const, primaryPort: port - 3, linked: true, slots })),
	]
	const name = (port: number) => `redis-${port}`

	test('healthy: every node ok, one slot map covering every slot, every replica linked', () => {
		expect(redisClusterProblems(healthy(), name)).toEqual([])
	})

	test('a primary killed and not replaced yet: its slots are on a node that does not run, its replica has no primary', () => {
		const probes = healthy().filter((p) => p.port !== 1)
		const problems = redisClusterProblems(probes, name)
		expect(problems).toContain('redis-2 sees slots 0-5460 on redis-1, which is not running')
		expect(problems).toContain('redis-4 replicates redis-1, which is not running')
	})

	test('a node that does not answer, a failed cluster_state, failing slots, an unlinked replica', () => {
		const probes = healthy()
		probes[0] = { port: 1, error: 'connect ECONNREFUSED' }
		probes[1] = { ...probes[1]!, state: 'fail', slotsOk: 10923 }
		probes[5] = { ...probes[5]!, linked: false }
		const problems = redisClusterProblems(probes, name)
		expect(problems).toContain('redis-1 does not answer (connect ECONNREFUSED)')
		expect(problems).toContain('redis-2: cluster_state:fail')
		expect(problems).toContain('redis-2: 10923 of 16384 slots ok')
		expect(problems).toContain('redis-6: its link to redis-3 is not up')
	})

	test('slots without a primary, slots on a replica, and nodes that disagree on the map', () => {
		const probes = healthy()
		probes[0] = { ...probes[0]!, slots: slots.slice(1) }
		probes[1] = { ...probes[1]!, slots: [slots[0]!, slots[1]!, { ...slots[2]!, port: 6 }] }
		const problems = redisClusterProblems(probes, name)
		expect(problems).toContain('redis-1 sees 10923 of 16384 slots with a primary')
		expect(problems).toContain('redis-2 sees slots 10923-16383 on redis-6, which is a replica')
		expect(problems).toContain('redis-2 sees another slot map than redis-1')
	})
})

describe('NATS cluster health', () => {
	const healthy = (): NatsNodeProbe[] => [1, 2, 3].map((monitorPort) => ({ monitorPort, healthz: 200, healthzSays: 'ok', routes: 2, metaLeader: 'nats-1' }))
	const name = (port: number) => `nats-${port}`

	test('healthy: /healthz 200, routed to every other running server, a meta leader', () => {
		expect(natsClusterProblems(healthy(), name)).toEqual([])
		// One server stopped: the two left need a route to each other only.
		expect(natsClusterProblems(healthy().slice(0, 2).map((p) => ({ ...p, routes: 1 })), name)).toEqual([])
	})

	test('a server not current, one missing a route, no meta leader, a monitoring port that does not answer', () => {
		const probes = healthy()
		probes[0] = { ...probes[0]!, healthz: 503, healthzSays: 'JetStream is not current with the meta leader' }
		probes[1] = { ...probes[1]!, routes: 1, metaLeader: '' }
		probes[2] = { monitorPort: 3, error: 'ECONNREFUSED' }
		expect(natsClusterProblems(probes, name)).toEqual([
			'nats-1: /healthz 503 JetStream is not current with the meta leader',
			'nats-2: routes to 1 of the 2 other running servers',
			'nats-2: JetStream has no meta leader',
			'nats-3 does not answer on its monitoring port (ECONNREFUSED)',
		])
	})
})
