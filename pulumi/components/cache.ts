import * as aws from '@pulumi/aws'
import * as pulumi from '@pulumi/pulumi'
import * as random from '@pulumi/random'
import { REDIS_PORT } from './firewall'

export interface CacheArgs {
	subnetIds: pulumi.Input<string>[]
	securityGroupId: pulumi.Input<string>
	/** e.g. `cache.t4g.medium`, `cache.r7g.large` (the main cost knob of this tier). */
	nodeType: string
	/** Primary plus replicas, one per zone where possible; at least 2 for Multi-AZ failover. */
	nodeCount: number
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
 * Cache is the BidStore: an ElastiCache replication group (cluster mode off, so the Lua script's
 * keys need no slot planning) with automatic Multi-AZ failover, TLS in transit, encryption at rest
 * and an AUTH token. `maxmemory-policy noeviction` makes a full cache refuse writes instead of
 * silently dropping auction state. The connection URL, token included, is stored in Secrets
 * Manager for the tasks' `secrets`.
 */
export class Cache extends pulumi.ComponentResource {
	public readonly primaryEndpoint: pulumi.Output<string>
	public readonly readerEndpoint: pulumi.Output<string>
	public readonly replicationGroupId: pulumi.Output<string>
	/** Secrets Manager secret holding `rediss://:<token>@<primary>:6379`: the tasks' REDIS_URL. */
	public readonly urlSecretArn: pulumi.Output<string>

	constructor(name: string, args: CacheArgs, opts?: pulumi.ComponentResourceOptions) {
		super('gavel:infra:Cache', name, {}, opts)
		if (!Number.isInteger(args.nodeCount) || args.nodeCount < 2 || args.nodeCount > 6)
			throw new Error(`cache nodeCount must be 2..6 for Multi-AZ failover (got ${args.nodeCount})`)
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
		const parameters = new aws.elasticache.ParameterGroup(
			`${name}-redis`,
			{
				family,
				description: 'gavel: never evict auction state',
				parameters: [{ name: 'maxmemory-policy', value: 'noeviction' }],
				tags,
			},
			parent,
		)
		const group = new aws.elasticache.ReplicationGroup(
			`${name}-redis`,
			{
				description: 'gavel BidStore',
				engine,
				engineVersion,
				nodeType: args.nodeType,
				numCacheClusters: args.nodeCount,
				port: REDIS_PORT,
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
			`${name}-redis-url`,
			{ description: 'gavel REDIS_URL (ElastiCache primary, TLS, AUTH token)', tags },
			parent,
		)
		new aws.secretsmanager.SecretVersion(
			`${name}-redis-url`,
			{
				secretId: secret.id,
				secretString: pulumi.secret(
					pulumi.interpolate`rediss://:${pulumi.output(authToken).apply(encodeURIComponent)}@${group.primaryEndpointAddress}:${REDIS_PORT}`,
				),
			},
			parent,
		)

		this.primaryEndpoint = group.primaryEndpointAddress
		this.readerEndpoint = group.readerEndpointAddress
		this.replicationGroupId = group.id
		this.urlSecretArn = secret.arn
		this.registerOutputs({
			primaryEndpoint: this.primaryEndpoint,
			readerEndpoint: this.readerEndpoint,
			urlSecretArn: this.urlSecretArn,
		})
	}
}
