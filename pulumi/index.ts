// gavel on AWS. This program deploys, in one region:
//   - a VPC over three zones (one NATS node per zone): public subnets (ALB, NAT) and private subnets (everything else);
//   - security groups that admit each flow from a named group only (components/firewall.ts);
//   - one ECS Fargate cluster running one service per role group of the gavel image
//     (default: api = ROLES=api,live behind the ALB, archiver, closer), with CloudWatch log groups
//     and target-tracking autoscaling of the api service on CPU and open WebSockets per task
//     (a metrics sidecar ships gavel_ws_connections to CloudWatch), and CloudWatch alarms on the archive
//     and on store rebuilds;
//   - an internet-facing ALB for HTTPS and the /live WebSocket (plain HTTP in development stacks only);
//   - a 3-node NATS JetStream cluster on Fargate, one node per zone, each on its own EBS volume,
//     rolled one node at a time, with a user and password and TLS for clients and routes (a CA of
//     the stack's own); the tasks get every node in NATS_URL (tls://), NATS_STREAM_REPLICAS (3),
//     NATS_USER, NATS_PASSWORD and the CA as NATS_CA, and an internal NLB health checks the nodes
//     (liveness only);
//   - ElastiCache Redis in cluster mode (shards × replicas, Multi-AZ failover, TLS, AUTH token,
//     encrypted at rest); the tasks get REDIS_CLUSTER_NODES, REDIS_TLS and REDIS_WAIT_REPLICAS;
//   - RDS Postgres (Multi-AZ, encrypted, private);
//   - Secrets Manager secrets for REDIS_PASSWORD, NATS_PASSWORD, the NATS servers' TLS key,
//     DATABASE_URL and AUTH_JWT_SECRET, delivered to tasks through the task definitions' `secrets`.
// Stack configuration is read here and only here; README.md lists every key.
import * as pulumi from '@pulumi/pulumi'
import { ROLES, type Role, type RoleGroup } from './components/service'
import { deployGavel, STACK_DEFAULTS } from './stack'

const config = new pulumi.Config()

const authJwtSecret = config.getSecret('authJwtSecret')
const authJwksUrl = config.get('authJwksUrl')
if ((authJwtSecret === undefined) === (authJwksUrl === undefined))
	throw new Error('set exactly one of `pulumi config set --secret authJwtSecret …` and `pulumi config set authJwksUrl …`')
const authIssuer = config.get('authIssuer')
const authAudience = config.get('authAudience')
const certificateArn = config.get('certificateArn')
const publicHostname = config.get('publicHostname')
const availabilityZones = config.getObject<string[]>('availabilityZones')
const publicIngressCidrs = config.getObject<string[]>('publicIngressCidrs')
// `[]` turns the container health check off.
const healthCheckCommand = config.getObject<string[]>('healthCheckCommand') ?? [...STACK_DEFAULTS.healthCheckCommand]
const redisAuthToken = config.getSecret('redisAuthToken')
const dbPassword = config.getSecret('dbPassword')
const cacheEngineVersion = config.get('cacheEngineVersion')
const logRetentionDays = config.getNumber('logRetentionDays') ?? STACK_DEFAULTS.logRetentionDays
const development = config.getBoolean('development') ?? false
if (config.get('apiRequestsPerTarget') !== undefined)
	throw new Error('apiRequestsPerTarget is gone: the api scales on CPU and open WebSockets per task; set apiWsConnectionsTarget instead')
// The cache runs in cluster mode only: a leftover node count would otherwise be ignored silently.
if (config.get('cacheNodeCount') !== undefined)
	throw new Error('cacheNodeCount is gone: the cache runs in cluster mode; set redisShards and redisReplicasPerShard instead (pulumi config rm cacheNodeCount)')

const stack = deployGavel({
	name: 'gavel',
	development,
	tags: { app: 'gavel', stack: pulumi.getStack(), ...config.getObject<Record<string, string>>('tags') },
	logRetentionDays,
	network: {
		cidrBlock: config.get('vpcCidr') ?? STACK_DEFAULTS.vpcCidr,
		azCount: config.getNumber('azCount') ?? STACK_DEFAULTS.azCount,
		singleNatGateway: config.getBoolean('singleNatGateway') ?? STACK_DEFAULTS.singleNatGateway,
		...(availabilityZones ? { availabilityZones } : {}),
	},
	...(publicIngressCidrs ? { publicIngressCidrs } : {}),
	cluster: { containerInsights: config.getBoolean('containerInsights') ?? STACK_DEFAULTS.containerInsights },
	cache: {
		engine: config.get('cacheEngine', { allowedValues: ['redis', 'valkey'] }) ?? STACK_DEFAULTS.cacheEngine,
		nodeType: config.get('cacheNodeType') ?? STACK_DEFAULTS.cacheNodeType,
		shards: config.getNumber('redisShards') ?? STACK_DEFAULTS.redisShards,
		replicasPerShard: config.getNumber('redisReplicasPerShard') ?? STACK_DEFAULTS.redisReplicasPerShard,
		...(cacheEngineVersion ? { engineVersion: cacheEngineVersion } : {}),
		...(redisAuthToken ? { authToken: redisAuthToken } : {}),
	},
	database: {
		instanceClass: config.get('dbInstanceClass') ?? STACK_DEFAULTS.dbInstanceClass,
		engineVersion: config.get('dbEngineVersion') ?? STACK_DEFAULTS.dbEngineVersion,
		allocatedStorage: config.getNumber('dbAllocatedStorage') ?? STACK_DEFAULTS.dbAllocatedStorage,
		maxAllocatedStorage: config.getNumber('dbMaxAllocatedStorage') ?? STACK_DEFAULTS.dbMaxAllocatedStorage,
		multiAz: config.getBoolean('dbMultiAz') ?? STACK_DEFAULTS.dbMultiAz,
		deletionProtection: config.getBoolean('dbDeletionProtection') ?? STACK_DEFAULTS.dbDeletionProtection,
		backupRetentionDays: config.getNumber('dbBackupRetentionDays') ?? STACK_DEFAULTS.dbBackupRetentionDays,
		skipFinalSnapshot: config.getBoolean('dbSkipFinalSnapshot') ?? false,
		...(dbPassword ? { password: dbPassword } : {}),
	},
	bus: {
		image: config.get('natsImage') ?? STACK_DEFAULTS.natsImage,
		cpu: config.getNumber('natsCpu') ?? STACK_DEFAULTS.natsCpu,
		memory: config.getNumber('natsMemory') ?? STACK_DEFAULTS.natsMemory,
		streamReplicas: config.getNumber('natsStreamReplicas') ?? STACK_DEFAULTS.natsStreamReplicas,
		storageGb: config.getNumber('natsStorageGb') ?? STACK_DEFAULTS.natsStorageGb,
	},
	service: {
		image: config.require('image'),
		groups: readRoleGroups(config.getObject<Record<string, unknown>>('services')),
		logLevel: config.get('logLevel', { allowedValues: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] }) ??
			STACK_DEFAULTS.logLevel,
		...(authJwtSecret ? { authJwtSecret } : {}),
		...(authJwksUrl ? { authJwksUrl } : {}),
		environment: {
			...(authIssuer ? { AUTH_ISSUER: authIssuer } : {}),
			...(authAudience ? { AUTH_AUDIENCE: authAudience } : {}),
		},
		...(certificateArn ? { certificateArn } : {}),
		...(publicHostname ? { publicHostname } : {}),
		timeouts: {
			...STACK_DEFAULTS.timeouts,
			albIdleTimeoutS: config.getNumber('albIdleTimeoutSeconds') ?? STACK_DEFAULTS.timeouts.albIdleTimeoutS,
			liveIdleTimeoutS: config.getNumber('liveIdleTimeoutSeconds') ?? STACK_DEFAULTS.timeouts.liveIdleTimeoutS,
			httpIdleTimeoutS: config.getNumber('httpIdleTimeoutSeconds') ?? STACK_DEFAULTS.timeouts.httpIdleTimeoutS,
		},
		startupWaitSeconds: config.getNumber('startupWaitSeconds') ?? STACK_DEFAULTS.startupWaitSeconds,
		metrics: {
			collectorImage: config.get('metricsCollectorImage') ?? STACK_DEFAULTS.metricsCollectorImage,
			namespace: config.get('metricsNamespace') ?? STACK_DEFAULTS.metricsNamespace,
		},
		autoscaling: {
			minCount: config.getNumber('apiMinCount') ?? STACK_DEFAULTS.apiMinCount,
			maxCount: config.getNumber('apiMaxCount') ?? STACK_DEFAULTS.apiMaxCount,
			cpuTarget: config.getNumber('apiCpuTarget') ?? STACK_DEFAULTS.apiCpuTarget,
			wsConnectionsTarget: config.getNumber('apiWsConnectionsTarget') ?? STACK_DEFAULTS.apiWsConnectionsTarget,
		},
		cpuArchitecture:
			config.get('cpuArchitecture', { allowedValues: ['X86_64', 'ARM64'] }) ?? STACK_DEFAULTS.cpuArchitecture,
		...(healthCheckCommand.length > 0 ? { healthCheckCommand } : {}),
	},
})

/**
 * readRoleGroups merges the `services` config map over the default groups: a known name changes
 * that group's fields, a new name adds a group, and `roles: ""` removes one. For example, to run
 * the archiver and the closer in one service:
 *   pulumi config set --path 'services.workers.roles' 'archiver,closer'
 *   pulumi config set --path 'services.archiver.roles' ''
 *   pulumi config set --path 'services.closer.roles' ''
 */
function readRoleGroups(raw: Record<string, unknown> | undefined): RoleGroup[] {
	const groups = new Map(STACK_DEFAULTS.roleGroups.map((g) => [g.name, { ...g, roles: [...g.roles] }]))
	for (const [name, value] of Object.entries(raw ?? {})) {
		if (typeof value !== 'object' || value === null) throw new Error(`services.${name} must be an object`)
		const fields = value as Record<string, unknown>
		const base = groups.get(name)
		const roles = fields.roles === undefined ? base?.roles : readRoles(`services.${name}.roles`, fields.roles)
		if (roles === undefined) throw new Error(`services.${name}.roles is required for a new group`)
		if (roles.length === 0) {
			groups.delete(name)
			continue
		}
		groups.set(name, {
			name,
			roles,
			desiredCount: readNumber(`services.${name}.desiredCount`, fields.desiredCount) ?? base?.desiredCount ?? 1,
			cpu: readNumber(`services.${name}.cpu`, fields.cpu) ?? base?.cpu ?? 512,
			memory: readNumber(`services.${name}.memory`, fields.memory) ?? base?.memory ?? 1024,
		})
	}
	return [...groups.values()]
}

function readRoles(key: string, value: unknown): Role[] {
	const list = typeof value === 'string' ? value.split(',') : value
	if (!Array.isArray(list)) throw new Error(`${key} must be a comma-separated string or a list of roles`)
	const roles = list.map((r) => String(r).trim()).filter((r) => r !== '')
	for (const role of roles)
		if (!(ROLES as readonly string[]).includes(role)) throw new Error(`${key}: unknown role "${role}" (roles: ${ROLES.join(', ')})`)
	return roles as Role[]
}

// `pulumi config set --path` stores numbers as numbers, plain `config set` of a JSON object may hold strings.
function readNumber(key: string, value: unknown): number | undefined {
	if (value === undefined) return undefined
	const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN
	if (!Number.isFinite(n)) throw new Error(`${key} must be a number (got ${JSON.stringify(value)})`)
	return n
}

export const url = stack.service.url
export const wsUrl = stack.service.wsUrl
export const albDnsName = stack.service.albDnsName
export const clusterName = stack.cluster.name
export const serviceNames = stack.service.serviceNames
export const logGroupNames = stack.service.logGroupNames
export const natsUrl = stack.bus.url
export const natsServiceNames = stack.bus.serviceNames
export const redisConfigurationEndpoint = stack.cache.configurationEndpoint
export const databaseAddress = stack.database.address
export const redisPasswordSecretArn = stack.cache.passwordSecretArn
// For an operator's `nats` CLI inside the VPC: --user gavel --password <secret> --tlsca <natsCaCert>.
export const natsPasswordSecretArn = stack.bus.passwordSecretArn
export const natsCaCert = stack.bus.caCertPem
export const databaseUrlSecretArn = stack.database.urlSecretArn
export const databaseMigrationUrlSecretArn = stack.database.migrationUrlSecretArn
// For the one-time CREATE ROLE gavel_app (pulumi/README.md, "Database roles").
export const databaseAppPasswordSecretArn = stack.database.appPasswordSecretArn
export const alarmTopicArn = stack.alarms.topicArn
export const vpcId = stack.network.vpcId
// For one-off tasks (e.g. `gavel migrate`) in the same place and with the same access as the services.
export const privateSubnetIds = stack.network.privateSubnetIds
export const appSecurityGroupId = stack.firewall.appSecurityGroupId
