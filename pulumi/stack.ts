import * as pulumi from '@pulumi/pulumi'
import { Bus, type BusArgs } from './components/bus'
import { Cache, type CacheArgs } from './components/cache'
import { Cluster, type ClusterArgs } from './components/cluster'
import { Database, type DatabaseArgs } from './components/database'
import { Firewall } from './components/firewall'
import { Alarms } from './components/metrics'
import { Network, type NetworkArgs } from './components/network'
import { DEFAULT_ROLE_GROUPS, GavelService, type GavelServiceArgs } from './components/service'
import { DEFAULT_TIMEOUTS } from './components/timeouts'

/** What each tier takes besides the outputs of the tiers before it. */
export interface GavelStackArgs {
	/** Prefix of every resource name. */
	name: string
	/** A throw-away stack: may run plain HTTP, unpinned images and R1 streams. Everything else refuses them. */
	development: boolean
	network: Omit<NetworkArgs, 'tags'>
	/** Who may reach the load balancer; left out: everyone. */
	publicIngressCidrs?: string[]
	cluster: Omit<ClusterArgs, 'tags'>
	cache: Omit<CacheArgs, 'subnetIds' | 'securityGroupId' | 'tags'>
	database: Omit<DatabaseArgs, 'subnetIds' | 'securityGroupId' | 'logRetentionDays' | 'tags'>
	bus: Omit<
		BusArgs,
		| 'vpcId'
		| 'subnetIds'
		| 'clusterArn'
		| 'natsSecurityGroupId'
		| 'nlbSecurityGroupId'
		| 'logRetentionDays'
		| 'development'
		| 'tags'
	>
	service: Omit<
		GavelServiceArgs,
		| 'vpcId'
		| 'publicSubnetIds'
		| 'privateSubnetIds'
		| 'clusterArn'
		| 'clusterName'
		| 'albSecurityGroupId'
		| 'webSecurityGroupId'
		| 'appSecurityGroupId'
		| 'redis'
		| 'nats'
		| 'databaseUrlSecretArn'
		| 'databaseMigrationUrlSecretArn'
		| 'vpcCidr'
		| 'development'
		| 'logRetentionDays'
		| 'tags'
	>
	logRetentionDays: number
	tags: Record<string, string>
}

/** Defaults for every optional stack setting; index.ts falls back to these, README lists them. */
export const STACK_DEFAULTS = {
	vpcCidr: '10.0.0.0/16',
	// Three: one NATS node per zone, so a zone's loss leaves two of three (the quorum).
	azCount: 3,
	singleNatGateway: false,
	containerInsights: true,
	logRetentionDays: 14,
	logLevel: 'info',
	albIdleTimeoutSeconds: DEFAULT_TIMEOUTS.albIdleTimeoutS,
	timeouts: DEFAULT_TIMEOUTS,
	startupWaitSeconds: 300,
	roleGroups: DEFAULT_ROLE_GROUPS,
	apiMinCount: 2,
	apiMaxCount: 10,
	apiCpuTarget: 60,
	// Open WebSockets per api task; well under the 65,536 descriptors, where CPU is the limit first.
	apiWsConnectionsTarget: 5000,
	cpuArchitecture: 'X86_64',
	// The image's own binary (Dockerfile) asks /healthz, liveness: ECS replaces a task whose check
	// fails, and a Redis or NATS outage must not restart every task.
	healthCheckCommand: ['CMD', '/app/gavel', 'health', '--live'],
	cacheEngine: 'redis',
	cacheNodeType: 'cache.t4g.medium',
	redisShards: 2,
	redisReplicasPerShard: 1,
	dbInstanceClass: 'db.t4g.medium',
	dbEngineVersion: '17',
	dbAllocatedStorage: 20,
	dbMaxAllocatedStorage: 100,
	dbMultiAz: true,
	dbDeletionProtection: true,
	dbBackupRetentionDays: 7,
	// A floating tag: development stacks only. Others set natsImage to a digest or an ECR mirror of
	// the -alpine variant: the nodes' start script needs its shell (components/nats-server.ts).
	natsImage: 'nats:2.12-alpine',
	natsStorageGb: 20,
	metricsCollectorImage: 'public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3',
	metricsNamespace: 'gavel',
	natsCpu: 512,
	natsMemory: 1024,
	natsStreamReplicas: 3,
} as const

export interface GavelStack {
	network: Network
	firewall: Firewall
	cluster: Cluster
	cache: Cache
	database: Database
	bus: Bus
	service: GavelService
	alarms: Alarms
}

/**
 * deployGavel wires the tiers in dependency order: network → security groups → ECS cluster →
 * Redis, Postgres, NATS (each in the private subnets) → gavel's services behind the ALB, fed how to
 * reach the Redis Cluster and the NATS servers (their user and CA), and the Secrets Manager ARNs of
 * the Redis token, the NATS password and the Postgres URL.
 */
export function deployGavel(args: GavelStackArgs, opts?: pulumi.ComponentResourceOptions): GavelStack {
	const { name, tags } = args
	const network = new Network(name, { ...args.network, tags }, opts)
	const firewall = new Firewall(
		name,
		{
			vpcId: network.vpcId,
			https: args.service.certificateArn !== undefined,
			...(args.publicIngressCidrs ? { publicIngressCidrs: args.publicIngressCidrs } : {}),
			tags,
		},
		opts,
	)
	const cluster = new Cluster(name, { ...args.cluster, tags }, opts)
	const cache = new Cache(
		name,
		{ ...args.cache, subnetIds: network.privateSubnetIds, securityGroupId: firewall.redisSecurityGroupId, tags },
		opts,
	)
	const database = new Database(
		name,
		{
			...args.database,
			subnetIds: network.privateSubnetIds,
			securityGroupId: firewall.dbSecurityGroupId,
			logRetentionDays: args.logRetentionDays,
			tags,
		},
		opts,
	)
	const bus = new Bus(
		name,
		{
			...args.bus,
			vpcId: network.vpcId,
			subnetIds: network.privateSubnetIds,
			clusterArn: cluster.arn,
			natsSecurityGroupId: firewall.natsSecurityGroupId,
			nlbSecurityGroupId: firewall.nlbSecurityGroupId,
			development: args.development,
			logRetentionDays: args.logRetentionDays,
			tags,
		},
		opts,
	)
	const service = new GavelService(
		name,
		{
			...args.service,
			vpcId: network.vpcId,
			publicSubnetIds: network.publicSubnetIds,
			privateSubnetIds: network.privateSubnetIds,
			clusterArn: cluster.arn,
			clusterName: cluster.name,
			albSecurityGroupId: firewall.albSecurityGroupId,
			webSecurityGroupId: firewall.webSecurityGroupId,
			appSecurityGroupId: firewall.appSecurityGroupId,
			redis: {
				clusterNodes: cache.clusterNodes,
				tls: cache.tls,
				passwordSecretArn: cache.passwordSecretArn,
				waitReplicas: cache.waitReplicas,
			},
			nats: { url: bus.url, streamReplicas: bus.streamReplicas, user: bus.user, passwordSecretArn: bus.passwordSecretArn, caCertPem: bus.caCertPem },
			databaseUrlSecretArn: database.urlSecretArn,
			databaseMigrationUrlSecretArn: database.migrationUrlSecretArn,
			vpcCidr: network.vpcCidrBlock,
			development: args.development,
			logRetentionDays: args.logRetentionDays,
			tags,
		},
		opts,
	)
	const archiver = args.service.groups.find((g) => g.roles.includes('archiver'))
	if (!archiver) throw new Error('no group runs the archiver role')
	const api = args.service.groups.find((g) => g.roles.includes('api'))
	if (!api) throw new Error('no group runs the api role')
	const alarms = new Alarms(
		name,
		{
			namespace: args.service.metrics.namespace,
			archiverService: pulumi.interpolate`${cluster.name}/${archiver.name}`,
			storeService: pulumi.interpolate`${cluster.name}/${api.name}`,
			tags,
		},
		opts,
	)
	return { network, firewall, cluster, cache, database, bus, service, alarms }
}
