import * as aws from '@pulumi/aws'
import * as pulumi from '@pulumi/pulumi'
import * as random from '@pulumi/random'
import { REDIS_PORT } from './firewall'

/** ElastiCache's limits for one cluster-mode group: shards, replicas per shard, nodes in all. */
export const MAX_SHARDS = 500
export const MAX_REPLICAS_PER_SHARD = 5
export const MAX_CACHE_NODES = 500

export interface CacheArgs {
	subnetIds: pulumi.Input<string>[]
	securityGroupId: pulumi.Input<string>
	/** e.g. `cache.t4g.medium`, `cache.r7g.large` (the main cost knob of this tier). */
	nodeType: string
	/** Node groups (shards), each a primary and its replicas; the key space is split over them. */
	shards: number
	/** Replicas of each shard's primary, placed in other zones; at least 1, since failover promotes one. */
	replicasPerShard: number
	/** `redis` or `valkey` (Redis-compatible, about 20 % cheaper per node hour). */
	engine?: 'redis' | 'valkey'
	/** Left out: 7.1 for redis, 8.0 for valkey. */
	engineVersion?: string
	/**
	 * AUTH token (16–128 printable characters, no `/`, `"` or `@`). Left out: a 48-character
	 * alphanumeric RandomPassword is generated and kept (encrypted) in the Pulumi state.
	 */
	authToken?: pulumi.Input<string>
	/** Daily snapshots kept; left out: 7. Auction state lives here, so keep some. */
	snapshotRetentionDays?: number
	tags?: Record<string, string>
}

/**
 * checkCacheTopology refuses, at preview, a shard layout ElastiCache would refuse or that could
 * not fail over: 1..500 shards, 1..5 replicas each, at most 500 nodes in all. There is no
 * single-node or replica-less mode: a shard without a replica loses its slots with its primary.
 */
export function checkCacheTopology(shards: number, replicasPerShard: number): void {
	const problems: string[] = []
	if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS)
		problems.push(`redisShards must be a whole number 1..${MAX_SHARDS} (got ${shards})`)
	if (!Number.isInteger(replicasPerShard) || replicasPerShard < 0 || replicasPerShard > MAX_REPLICAS_PER_SHARD)
		problems.push(`redisReplicasPerShard must be a whole number 1..${MAX_REPLICAS_PER_SHARD} (got ${replicasPerShard})`)
	else if (replicasPerShard === 0)
		problems.push('redisReplicasPerShard must be at least 1: failover promotes a replica, and a shard without one loses its auctions with its primary')
	if (problems.length === 0 && shards * (1 + replicasPerShard) > MAX_CACHE_NODES)
		problems.push(`redisShards × (1 + redisReplicasPerShard) is ${shards * (1 + replicasPerShard)} nodes; ElastiCache allows ${MAX_CACHE_NODES}`)
	if (problems.length > 0) throw new Error(`invalid cache topology:\n  ${problems.join('\n  ')}`)
}

/**
 * waitReplicasFor is REDIS_WAIT_REPLICAS: how many replicas a write must reach before gavel answers
 * it. One, not all: a write that reached one replica survives a failover to it, and waiting for
 * every replica would make each bid wait for the slowest one in another zone.
 */
export function waitReplicasFor(replicasPerShard: number): number {
	return Math.min(replicasPerShard, 1)
}

/**
 * Cache is the BidStore: an ElastiCache replication group in cluster mode (`shards` node groups of a
 * primary and `replicasPerShard` replicas; gavel's keys carry hash tags, docs/design.md §3) with
 * automatic Multi-AZ failover, TLS in transit, encryption at rest and an AUTH token. Its own
 * parameter group turns `cluster-enabled` on (like `default.redis7.cluster.on`) and sets
 * `maxmemory-policy noeviction`, so a full cache refuses writes instead of silently dropping
 * auction state. The tasks get the configuration endpoint as REDIS_CLUSTER_NODES and the token
 * from Secrets Manager as REDIS_PASSWORD.
 */
export class Cache extends pulumi.ComponentResource {
	/** The configuration endpoint's host name: the seed a cluster client asks for the slot map. */
	public readonly configurationEndpoint: pulumi.Output<string>
	/** `<configuration endpoint>:6379`: the tasks' REDIS_CLUSTER_NODES. */
	public readonly clusterNodes: pulumi.Output<string>
	/** In-transit encryption is always on: the tasks' REDIS_TLS. */
	public readonly tls = true
	/** The tasks' REDIS_WAIT_REPLICAS (waitReplicasFor). */
	public readonly waitReplicas: number
	public readonly replicationGroupId: pulumi.Output<string>
	/** Secrets Manager secret holding the AUTH token: the tasks' REDIS_PASSWORD. */
	public readonly passwordSecretArn: pulumi.Output<string>

	constructor(name: string, args: CacheArgs, opts?: pulumi.ComponentResourceOptions) {
		super('gavel:infra:Cache', name, {}, opts)
		checkCacheTopology(args.shards, args.replicasPerShard)
		const tags = args.tags ?? {}
		const parent = { parent: this }
		const engine = args.engine ?? 'redis'
		const engineVersion = args.engineVersion ?? (engine === 'valkey' ? '8.0' : '7.1')
		const family = `${engine}${engineVersion.split('.')[0]}`

		const authToken =
			args.authToken ??
			new random.RandomPassword(`${name}-redis-auth`, { length: 48, special: false }, parent).result

		const subnets = new aws.elasticache.SubnetGroup(
			`${name}-redis`,
			{ description: 'gavel Redis, private subnets', subnetIds: args.subnetIds, tags },
			parent,
		)
		// New names for the cluster-mode parameter group and replication group: AWS turns cluster mode
		// on in a running group only through a `compatible` phase with every client moved over, so a
		// stack from before cluster mode gets a new cluster beside the old group instead (gavel
		// rebuilds an empty store from the archive, docs/design.md §6).
		const parameters = new aws.elasticache.ParameterGroup(
			`${name}-redis-cluster`,
			{
				family,
				description: 'gavel: cluster mode, never evict auction state',
				parameters: [
					{ name: 'cluster-enabled', value: 'yes' },
					{ name: 'maxmemory-policy', value: 'noeviction' },
				],
				tags,
			},
			parent,
		)
		const group = new aws.elasticache.ReplicationGroup(
			`${name}-redis-cluster`,
			{
				description: 'gavel BidStore (cluster mode)',
				engine,
				engineVersion,
				nodeType: args.nodeType,
				clusterMode: 'enabled',
				numNodeGroups: args.shards,
				replicasPerNodeGroup: args.replicasPerShard,
				port: REDIS_PORT,
				// Failover is required in cluster mode; Multi-AZ (every shard has a replica, checked
				// above) puts each shard's replicas in other zones than its primary.
				automaticFailoverEnabled: true,
				multiAzEnabled: true,
				transitEncryptionEnabled: true,
				atRestEncryptionEnabled: true,
				authToken,
				subnetGroupName: subnets.name,
				securityGroupIds: [args.securityGroupId],
				parameterGroupName: parameters.name,
				snapshotRetentionLimit: args.snapshotRetentionDays ?? 7,
				autoMinorVersionUpgrade: true,
				tags,
			},
			parent,
		)

		const secret = new aws.secretsmanager.Secret(
			`${name}-redis-password`,
			{ description: 'gavel REDIS_PASSWORD (ElastiCache AUTH token)', tags },
			parent,
		)
		new aws.secretsmanager.SecretVersion(
			`${name}-redis-password`,
			{ secretId: secret.id, secretString: pulumi.secret(authToken) },
			parent,
		)

		this.configurationEndpoint = group.configurationEndpointAddress
		this.clusterNodes = pulumi.interpolate`${group.configurationEndpointAddress}:${REDIS_PORT}`
		this.waitReplicas = waitReplicasFor(args.replicasPerShard)
		this.replicationGroupId = group.id
		this.passwordSecretArn = secret.arn
		this.registerOutputs({
			configurationEndpoint: this.configurationEndpoint,
			clusterNodes: this.clusterNodes,
			passwordSecretArn: this.passwordSecretArn,
		})
	}
}
