import { describe, expect, test } from 'bun:test'
import { loadConfig } from '../../src/config.ts'
import { configProblems as problemsOf } from '../helpers/config.ts'
import { describeClusterNodes, parseClusterNodes } from '../../src/adapters/redis/cluster-nodes.ts'

describe('REDIS_CLUSTER_NODES', () => {
	test('host:port entries, with spaces and a trailing comma, no credentials, no TLS', () => {
		expect(parseClusterNodes(' 10.0.0.1:7000, redis-a.internal:7001 ,[::1]:7002,')).toEqual({
			nodes: {
				nodes: [
					{ host: '10.0.0.1', port: 7000 },
					{ host: 'redis-a.internal', port: 7001 },
					{ host: '::1', port: 7002 },
				],
				tls: false,
			},
		})
	})

	test('URL entries carry the user, password and TLS for every node, as REDIS_URL does', () => {
		const parsed = parseClusterNodes('rediss://app:s%40cret@cfg.cache.amazonaws.com:6379,node-b:6380')
		expect(parsed).toEqual({
			nodes: {
				nodes: [
					{ host: 'cfg.cache.amazonaws.com', port: 6379 },
					{ host: 'node-b', port: 6380 },
				],
				username: 'app',
				password: 's@cret',
				tls: true,
			},
		})
		// The password never reaches a log line.
		expect(describeClusterNodes((parsed as { nodes: Parameters<typeof describeClusterNodes>[0] }).nodes)).toBe(
			'rediss cluster cfg.cache.amazonaws.com:6379,node-b:6380',
		)
		expect(parseClusterNodes('redis://cfg:6379')).toEqual({ nodes: { nodes: [{ host: 'cfg', port: 6379 }], tls: false } })
	})

	test('each bad entry is named; URLs that disagree on credentials are refused', () => {
		expect(parseClusterNodes('a:1,b,http://c:3,redis://d:4/2')).toEqual({
			problems: [
				'"b" is neither host:port nor a redis:// or rediss:// URL',
				'"http://c:3" is neither host:port nor a redis:// or rediss:// URL',
				'"redis://d:4/2" is neither host:port nor a redis:// or rediss:// URL',
			],
		})
		expect(parseClusterNodes('rediss://:x@a:1,redis://:y@b:2')).toEqual({
			problems: ['the URLs disagree on user, password or TLS: give them once (or the same in every URL)'],
		})
		expect(parseClusterNodes(' , ')).toEqual({ problems: ['no node given (host:port, comma-separated)'] })
	})

	test('the configuration takes one node or a cluster, never both, and names a bad list', () => {
		const c = loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000,127.0.0.1:7001', REDIS_PASSWORD: 'pw', REDIS_TLS: 'true' })
		expect([c.REDIS_CLUSTER_NODES, c.REDIS_PASSWORD, c.REDIS_TLS, c.REDIS_WAIT_REPLICAS, c.REDIS_WAIT_TIMEOUT_MS]).toEqual([
			'127.0.0.1:7000,127.0.0.1:7001',
			'pw',
			true,
			undefined, // unset: 1 on a cluster (connectRedis decides)
			250,
		])
		expect(problemsOf({ REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: 'b:7000' })).toContain('REDIS_URL and REDIS_CLUSTER_NODES: set one of them')
		expect(problemsOf({ REDIS_CLUSTER_NODES: 'b' })).toContain('REDIS_CLUSTER_NODES: "b" is neither host:port')
		expect(problemsOf({ REDIS_CLUSTER_NODES: 'rediss://:one@b:7000', REDIS_PASSWORD: 'two' })).toContain('differ: give it once')
		expect(problemsOf({ REDIS_URL: 'redis://a:6379', REDIS_TLS: 'true' })).toContain('REDIS_PASSWORD and REDIS_TLS are for REDIS_CLUSTER_NODES')
		expect(problemsOf({ REDIS_CLUSTER_NODES: 'b:7000', REDIS_WAIT_REPLICAS: '9' })).toContain('REDIS_WAIT_REPLICAS')
	})
})
