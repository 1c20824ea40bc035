import * as aws from '@pulumi/aws'
import * as pulumi from '@pulumi/pulumi'
import { checkFargateSize } from './fargate'
import { APP_PORT, METRICS_PORT } from './firewall'
import { ecrRepositoryArn, ecsTasksAssumeRolePolicy, writeLogsStatement } from './iam'
import { checkImage } from './images'
import { collectorConfig, WS_CONNECTIONS_METRIC } from './metrics'
import { checkTimeouts, type Timeouts, timeoutEnvironment } from './timeouts'

/** The roles one gavel process can run (src/config.ts ROLE_NAMES); `ROLES` picks a subset. */
export const ROLES = ['api', 'live', 'archiver', 'closer'] as const
export type Role = (typeof ROLES)[number]

/** Where the image keeps the RDS CA bundle (README "Deploy": the Dockerfile adds it). */
export const RDS_CA_FILE = '/etc/ssl/certs/rds-global-bundle.pem'
/** Scale out within a minute; scale in only after five quiet ones: each scale-in closes that task's sockets. */
export const SCALE_OUT_COOLDOWN_S = 60
export const SCALE_IN_COOLDOWN_S = 300
const CONTAINER = 'gavel'

/** One ECS service: a name, the roles its tasks run (`ROLES`), and its size. */
export interface RoleGroup {
	name: string
	roles: Role[]
	desiredCount: number
	/** Fargate vCPU units (256 = ¼ vCPU) and MiB, a valid Fargate pair. */
	cpu: number
	memory: number
}

/**
 * DEFAULT_ROLE_GROUPS: api and live share a service because one Elysia app serves both HTTP and
 * the `/live` WebSocket on one port, behind one target group; the archiver and the closer scale
 * (and fail) on their own.
 */
export const DEFAULT_ROLE_GROUPS: RoleGroup[] = [
	{ name: 'api', roles: ['api', 'live'], desiredCount: 2, cpu: 1024, memory: 2048 },
	{ name: 'archiver', roles: ['archiver'], desiredCount: 1, cpu: 512, memory: 1024 },
	{ name: 'closer', roles: ['closer'], desiredCount: 1, cpu: 256, memory: 512 },
]

/**
 * checkRoleGroups enforces what the deployment relies on: every role runs in exactly one group,
 * and `api` and `live` run in the same group (the one behind the load balancer, since the ALB has
 * one target group and both are served by the same app). It returns that public group.
 */
export function checkRoleGroups(groups: readonly RoleGroup[]): RoleGroup {
	const problems: string[] = []
	const seen = new Map<Role, string>()
	const names = new Set<string>()
	for (const group of groups) {
		if (!/^[a-z][a-z0-9-]{0,15}$/.test(group.name))
			problems.push(`group name "${group.name}" must be lowercase letters, digits and dashes, at most 16`)
		if (names.has(group.name)) problems.push(`group "${group.name}" appears twice`)
		names.add(group.name)
		if (group.roles.length === 0) problems.push(`group "${group.name}" runs no role`)
		for (const role of group.roles) {
			if (!(ROLES as readonly string[]).includes(role)) problems.push(`group "${group.name}": unknown role "${role}"`)
			const other = seen.get(role)
			if (other !== undefined) problems.push(`role "${role}" runs in both "${other}" and "${group.name}"`)
			seen.set(role, group.name)
		}
		if (!Number.isInteger(group.desiredCount) || group.desiredCount < 0)
			problems.push(`group "${group.name}": desiredCount must be a whole number ≥ 0`)
	}
	for (const role of ROLES) if (!seen.has(role)) problems.push(`role "${role}" runs in no group`)
	if (seen.get('api') !== seen.get('live')) problems.push('roles "api" and "live" must run in the same group')
	if (problems.length > 0) throw new Error(`invalid role groups:\n  ${problems.join('\n  ')}`)
	const publicGroup = groups.find((g) => g.roles.includes('api'))
	if (!publicGroup) throw new Error('no group runs the api role')
	return publicGroup
}

export interface AutoscalingArgs {
	minCount: number
	maxCount: number
	/** Average CPU % the api service is kept at. */
	cpuTarget: number
	/**
	 * Open WebSockets per task (gavel_ws_connections, averaged over the api tasks) the live role is
	 * kept at. Request counts would scale on reconnect waves (each upgrade is a request) and back in.
	 */
	wsConnectionsTarget: number
}

/** How the tasks reach the Redis Cluster (the BidStore). */
export interface RedisConnection {
	/** `host:port[,host:port…]` seed nodes: REDIS_CLUSTER_NODES. */
	clusterNodes: pulumi.Input<string>
	/** REDIS_TLS. */
	tls: boolean
	/** Secrets Manager ARN of the AUTH token: REDIS_PASSWORD, through `secrets`. */
	passwordSecretArn: pulumi.Input<string>
	/** Replicas each write reaches before gavel answers: REDIS_WAIT_REPLICAS. */
	waitReplicas: number
}

/** How the tasks reach NATS JetStream (the EventBus). */
export interface NatsConnection {
	/** Every server, comma-separated: NATS_URL. */
	url: pulumi.Input<string>
	/** Replicas of gavel's streams: NATS_STREAM_REPLICAS. */
	streamReplicas: number
	/** The servers' user: NATS_USER. */
	user: string
	/** Secrets Manager ARN of its password: NATS_PASSWORD, through `secrets`. */
	passwordSecretArn: pulumi.Input<string>
	/** The CA (PEM) that signed the servers' certificates: NATS_CA (public, a plain variable). */
	caCertPem: pulumi.Input<string>
}

export interface GavelServiceArgs {
	vpcId: pulumi.Input<string>
	publicSubnetIds: pulumi.Input<string>[]
	privateSubnetIds: pulumi.Input<string>[]
	clusterArn: pulumi.Input<string>
	clusterName: pulumi.Input<string>
	albSecurityGroupId: pulumi.Input<string>
	webSecurityGroupId: pulumi.Input<string>
	appSecurityGroupId: pulumi.Input<string>
	/** The gavel image, ideally pinned by digest; all groups run the same one. */
	image: string
	groups: RoleGroup[]
	redis: RedisConnection
	nats: NatsConnection
	/** Secrets Manager ARN; it reaches the container through `secrets`, never `environment`. */
	databaseUrlSecretArn: pulumi.Input<string>
	/** HS256 signing secret (≥ 32 characters); stored in Secrets Manager as AUTH_JWT_SECRET. Exclusive with authJwksUrl. */
	authJwtSecret?: pulumi.Input<string>
	/** JWKS endpoint for verifying tokens from an identity provider. Exclusive with authJwtSecret. */
	authJwksUrl?: string
	logLevel: string
	/** More plain (non-secret) variables for every container, e.g. AUTH_ISSUER. */
	environment?: Record<string, string>
	/** ACM certificate: adds an HTTPS listener on 443 and turns HTTP into a redirect. */
	certificateArn?: string
	/** The DNS name you point at the ALB (the certificate's name); used in the URL outputs. Left out: the ALB's own name. */
	publicHostname?: string
	/** The ALB's, ECS's and gavel's timeouts, checked against each other (components/timeouts.ts). */
	timeouts: Timeouts
	/** Seconds gavel waits for Redis, NATS and Postgres at start (STARTUP_WAIT_S) instead of exiting. */
	startupWaitSeconds: number
	/** The VPC's CIDR: the only hops gavel trusts for X-Forwarded-For (TRUST_PROXY). */
	vpcCidr: pulumi.Input<string>
	/** Secrets Manager ARN of the owner's URL (DATABASE_MIGRATION_URL), for the groups that migrate (archiver). */
	databaseMigrationUrlSecretArn: pulumi.Input<string>
	/** The collector sidecar that scrapes METRICS_PORT into CloudWatch (components/metrics.ts). */
	metrics: { collectorImage: string; namespace: string }
	/** Development stacks may run plain HTTP and unpinned images; every other stack refuses them. */
	development: boolean
	autoscaling: AutoscalingArgs
	logRetentionDays: number
	/** `ARM64` (Graviton, about 20 % cheaper) needs an arm64 or multi-arch image. Left out: `X86_64`. */
	cpuArchitecture?: 'X86_64' | 'ARM64'
	/** Container health check command, e.g. `["CMD", "/app/gavel", "health", "--live"]`: liveness only. Left out: none. */
	healthCheckCommand?: string[]
	tags?: Record<string, string>
}

/**
 * GavelService runs gavel itself: an internet-facing ALB for HTTP and WebSockets (`/live`), and one
 * ECS Fargate service per role group, all from one image, in private subnets without public IPs.
 * The api group sits behind the ALB (health checked on the liveness `/healthz`) and scales on CPU and on open WebSockets
 * per task. Secrets come from Secrets Manager through the task definition's `secrets`; the
 * execution role may read exactly those secrets and write exactly these log groups.
 */
export class GavelService extends pulumi.ComponentResource {
	/** `http(s)://<alb dns>` */
	public readonly url: pulumi.Output<string>
	/** `ws(s)://<alb dns>/live` */
	public readonly wsUrl: pulumi.Output<string>
	public readonly albDnsName: pulumi.Output<string>
	public readonly targetGroupArn: pulumi.Output<string>
	/** ECS service name per role group. */
	public readonly serviceNames: Record<string, pulumi.Output<string>>
	public readonly logGroupNames: Record<string, pulumi.Output<string>>

	constructor(name: string, args: GavelServiceArgs, opts?: pulumi.ComponentResourceOptions) {
		super('gavel:infra:Service', name, {}, opts)
		const publicGroup = checkRoleGroups(args.groups)
		if ((args.authJwtSecret === undefined) === (args.authJwksUrl === undefined))
			throw new Error('set exactly one of authJwtSecret and authJwksUrl')
		// gavel refuses to start in production with a JWKS but no issuer and audience, or keys over
		// plain http: fail at preview, not with tasks that crash-loop after the deploy.
		if (args.authJwksUrl !== undefined) {
			if (!args.authJwksUrl.startsWith('https://')) throw new Error(`authJwksUrl must be https:// (got ${args.authJwksUrl})`)
			const missing = ['AUTH_ISSUER', 'AUTH_AUDIENCE'].filter((k) => !args.environment?.[k])
			if (missing.length > 0)
				throw new Error(`authJwksUrl needs ${missing.join(' and ')} (pulumi config set authIssuer … / authAudience …): tokens of other apps of the same identity provider would pass`)
		}
		checkTimeouts(args.timeouts)
		const idleTimeout = args.timeouts.albIdleTimeoutS
		if (!args.development && args.certificateArn === undefined)
			throw new Error('certificateArn is required: without HTTPS, bearer tokens cross the internet in clear (set `development: true` only for throw-away stacks)')
		checkImage('image', args.image, args.development)
		checkImage('metricsCollectorImage', args.metrics.collectorImage, args.development)
		for (const group of args.groups) checkFargateSize(`services.${group.name}`, group.cpu, group.memory)
		const { minCount, maxCount } = args.autoscaling
		if (!(Number.isInteger(minCount) && Number.isInteger(maxCount) && minCount >= 1 && minCount <= maxCount))
			throw new Error(`autoscaling needs 1 ≤ minCount ≤ maxCount (got ${minCount}..${maxCount})`)
		const reserved = [
			'REDIS_URL',
			'REDIS_CLUSTER_NODES',
			'REDIS_PASSWORD',
			'REDIS_TLS',
			'REDIS_WAIT_REPLICAS',
			'NATS_URL',
			'NATS_STREAM_REPLICAS',
			'NATS_USER',
			'NATS_PASSWORD',
			'NATS_CA',
			'NATS_CA_FILE',
			'DATABASE_URL',
			'AUTH_JWT_SECRET',
			'AUTH_JWKS_URL',
			'ROLES',
			'PORT',
			'NODE_ENV',
			'TRUST_PROXY',
			'DATABASE_MIGRATION_URL',
			'DATABASE_CA_FILE',
			'METRICS_PORT',
			'STARTUP_WAIT_S',
			'HTTP_IDLE_TIMEOUT_S',
			'LIVE_IDLE_TIMEOUT_S',
			'LIVE_DRAIN_SPREAD_MS',
			'SHUTDOWN_TIMEOUT_MS',
		]
		for (const key of Object.keys(args.environment ?? {}))
			if (reserved.includes(key)) throw new Error(`environment may not set ${key}; it is managed by the deployment`)
		const tags = args.tags ?? {}
		const parent = { parent: this }
		const https = args.certificateArn !== undefined

		// Secrets: the Redis token, the NATS password and the database URL come from their tiers; the JWT secret is stored here.
		const secrets: { name: string; valueFrom: pulumi.Input<string> }[] = [
			{ name: 'REDIS_PASSWORD', valueFrom: args.redis.passwordSecretArn },
			{ name: 'NATS_PASSWORD', valueFrom: args.nats.passwordSecretArn },
			{ name: 'DATABASE_URL', valueFrom: args.databaseUrlSecretArn },
		]
		if (args.authJwtSecret !== undefined) {
			const jwt = new aws.secretsmanager.Secret(`${name}-auth-jwt`, { description: 'gavel AUTH_JWT_SECRET (HS256)', tags }, parent)
			new aws.secretsmanager.SecretVersion(
				`${name}-auth-jwt`,
				{ secretId: jwt.id, secretString: pulumi.secret(args.authJwtSecret) },
				parent,
			)
			secrets.push({ name: 'AUTH_JWT_SECRET', valueFrom: jwt.arn })
		}
		const environment: Record<string, pulumi.Input<string>> = {
			NODE_ENV: 'production',
			PORT: String(APP_PORT),
			HOST: '0.0.0.0',
			// Every role uses the store and the bus (the archiver repairs from the store, the closer
			// publishes closes), so every group gets the same connection settings.
			REDIS_CLUSTER_NODES: args.redis.clusterNodes,
			REDIS_TLS: String(args.redis.tls),
			REDIS_WAIT_REPLICAS: String(args.redis.waitReplicas),
			NATS_URL: args.nats.url,
			NATS_STREAM_REPLICAS: String(args.nats.streamReplicas),
			// The nodes' user (its password is a secret), and their CA as text (the image has no shell
			// to write a file): gavel then wants TLS of every node and checks its certificate.
			NATS_USER: args.nats.user,
			NATS_CA: args.nats.caCertPem,
			LOG_LEVEL: args.logLevel,
			// Behind the ALB every connection comes from the balancer: X-Forwarded-For is honoured
			// from hops inside the VPC only (the ALB's nodes), so per-IP limits see the client.
			TRUST_PROXY: args.vpcCidr,
			// Postgres over TLS verified against the RDS CA (the URL says sslmode=verify-full).
			DATABASE_CA_FILE: RDS_CA_FILE,
			// /metrics on its own port: the collector sidecar scrapes it, the ALB never forwards to it.
			METRICS_PORT: String(METRICS_PORT),
			// Under ECS a dependency that is down at start is waited for, not a reason to exit.
			STARTUP_WAIT_S: String(args.startupWaitSeconds),
			...timeoutEnvironment(args.timeouts),
			...(args.authJwksUrl !== undefined ? { AUTH_JWKS_URL: args.authJwksUrl } : {}),
			...args.environment,
		}

		// Load balancer: WebSockets ride plain HTTP(S) listeners; the idle timeout outlives the pings.
		const alb = new aws.lb.LoadBalancer(
			`${name}-alb`,
			{
				loadBalancerType: 'application',
				internal: false,
				subnets: args.publicSubnetIds,
				securityGroups: [args.albSecurityGroupId],
				idleTimeout,
				dropInvalidHeaderFields: true,
				tags,
			},
			parent,
		)
		const targetGroup = new aws.lb.TargetGroup(
			`${name}-api-tg`,
			{
				vpcId: args.vpcId,
				port: APP_PORT,
				protocol: 'HTTP',
				targetType: 'ip',
				// Matched to gavel's drain (components/timeouts.ts): longer, the ALB cuts every socket at once.
				deregistrationDelay: args.timeouts.deregistrationDelayS,
				// Liveness: /healthz never asks Redis, NATS or Postgres, so their outage does not make
				// ECS replace every task (and the new ones wait for them, STARTUP_WAIT_S).
				healthCheck: {
					path: '/healthz',
					matcher: '200',
					interval: 15,
					timeout: 5,
					healthyThreshold: 2,
					unhealthyThreshold: 3,
				},
				tags,
			},
			parent,
		)
		const forward = [{ type: 'forward', targetGroupArn: targetGroup.arn }]
		const listeners: aws.lb.Listener[] = [
			new aws.lb.Listener(
				`${name}-http`,
				{
					loadBalancerArn: alb.arn,
					port: 80,
					protocol: 'HTTP',
					defaultActions: https
						? [{ type: 'redirect', redirect: { protocol: 'HTTPS', port: '443', statusCode: 'HTTP_301' } }]
						: forward,
					tags,
				},
				parent,
			),
		]
		if (https)
			listeners.push(
				new aws.lb.Listener(
					`${name}-https`,
					{
						loadBalancerArn: alb.arn,
						port: 443,
						protocol: 'HTTPS',
						certificateArn: args.certificateArn,
						sslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
						defaultActions: forward,
						tags,
					},
					parent,
				),
			)

		// Roles: the execution role pulls the image, reads these secrets, writes these logs; nothing more.
		const logGroups = Object.fromEntries(
			args.groups.map((g) => [
				g.name,
				new aws.cloudwatch.LogGroup(`${name}-${g.name}`, { retentionInDays: args.logRetentionDays, tags }, parent),
			]),
		)
		// The collector writes gavel's metrics here as embedded metric format; CloudWatch extracts them.
		const metricsLogGroup = new aws.cloudwatch.LogGroup(`${name}-metrics`, { retentionInDays: args.logRetentionDays, tags }, parent)
		const repositoryArn = ecrRepositoryArn(args.image)
		const executionRole = new aws.iam.Role(
			`${name}-execution`,
			{ assumeRolePolicy: ecsTasksAssumeRolePolicy, description: 'gavel task execution: pull, secrets, logs', tags },
			parent,
		)
		new aws.iam.RolePolicy(
			`${name}-execution`,
			{
				role: executionRole.id,
				policy: pulumi.jsonStringify({
					Version: '2012-10-17',
					Statement: [
						{
							Effect: 'Allow',
							Action: 'secretsmanager:GetSecretValue',
							Resource: [...secrets.map((s) => s.valueFrom), args.databaseMigrationUrlSecretArn],
						},
						writeLogsStatement(Object.values(logGroups).map((lg) => lg.arn)),
						...(repositoryArn
							? [
									{ Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' },
									{
										Effect: 'Allow',
										Action: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
										Resource: repositoryArn,
									},
								]
							: []),
					],
				}),
			},
			parent,
		)
		// gavel calls no AWS API itself; only the collector sidecar writes its metrics log group.
		const taskRole = new aws.iam.Role(
			`${name}-task`,
			{ assumeRolePolicy: ecsTasksAssumeRolePolicy, description: 'gavel tasks: the metrics sidecar writes its log group', tags },
			parent,
		)
		new aws.iam.RolePolicy(
			`${name}-task`,
			{
				role: taskRole.id,
				policy: pulumi.jsonStringify({
					Version: '2012-10-17',
					Statement: [
						{
							...writeLogsStatement([metricsLogGroup.arn]),
							Action: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
						},
					],
				}),
			},
			parent,
		)

		const region = aws.getRegionOutput({}, parent).region
		const services: Record<string, aws.ecs.Service> = {}
		for (const group of args.groups) {
			const isPublic = group === publicGroup
			const logGroup = logGroups[group.name]
			if (!logGroup) throw new Error(`no log group for ${group.name}`)
			const taskDefinition = new aws.ecs.TaskDefinition(
				`${name}-${group.name}`,
				{
					family: `${name}-${group.name}`,
					networkMode: 'awsvpc',
					requiresCompatibilities: ['FARGATE'],
					cpu: String(group.cpu),
					memory: String(group.memory),
					runtimePlatform: { operatingSystemFamily: 'LINUX', cpuArchitecture: args.cpuArchitecture ?? 'X86_64' },
					executionRoleArn: executionRole.arn,
					taskRoleArn: taskRole.arn,
					containerDefinitions: pulumi.jsonStringify([
						{
							name: CONTAINER,
							image: args.image,
							essential: true,
							...(isPublic ? { portMappings: [{ containerPort: APP_PORT, protocol: 'tcp', name: 'http' }] } : {}),
							environment: Object.entries({ ...environment, ROLES: group.roles.join(',') }).map(([key, value]) => ({
								name: key,
								value,
							})),
							secrets: group.roles.includes('archiver')
								? [...secrets, { name: 'DATABASE_MIGRATION_URL', valueFrom: args.databaseMigrationUrlSecretArn }]
								: secrets,
							// One descriptor per WebSocket: the default soft limit (1024) would cap watchers per task.
							ulimits: [{ name: 'nofile', softLimit: 65536, hardLimit: 65536 }],
							// ECS sends SIGTERM, then waits this long before SIGKILL: above SHUTDOWN_TIMEOUT_MS.
							stopTimeout: args.timeouts.stopTimeoutS,
							...(args.healthCheckCommand
								? {
										healthCheck: {
											command: args.healthCheckCommand,
											interval: 15,
											timeout: 5,
											retries: 3,
											// ECS allows at most 300 s; failures before then do not count.
											startPeriod: Math.min(300, args.startupWaitSeconds),
										},
									}
								: {}),
							logConfiguration: {
								logDriver: 'awslogs',
								options: {
									'awslogs-group': logGroup.name,
									'awslogs-region': region,
									'awslogs-stream-prefix': group.name,
								},
							},
						},
						{
							// Scrapes localhost:METRICS_PORT and ships gavel_* as EMF: the WebSocket scaling signal and the alarms.
							name: 'metrics',
							image: args.metrics.collectorImage,
							essential: false,
							environment: [
								{
									name: 'AOT_CONFIG_CONTENT',
									value: collectorConfig({
										namespace: args.metrics.namespace,
										service: pulumi.interpolate`${args.clusterName}/${group.name}`,
										logGroupName: metricsLogGroup.name,
									}),
								},
							],
							logConfiguration: {
								logDriver: 'awslogs',
								options: {
									'awslogs-group': logGroup.name,
									'awslogs-region': region,
									'awslogs-stream-prefix': `${group.name}-metrics`,
								},
							},
						},
					]),
					tags,
				},
				parent,
			)
			services[group.name] = new aws.ecs.Service(
				`${name}-${group.name}`,
				{
					cluster: args.clusterArn,
					taskDefinition: taskDefinition.arn,
					launchType: 'FARGATE',
					platformVersion: 'LATEST',
					desiredCount: isPublic ? Math.max(group.desiredCount, minCount) : group.desiredCount,
					deploymentMinimumHealthyPercent: 100,
					deploymentMaximumPercent: 200,
					deploymentCircuitBreaker: { enable: true, rollback: true },
					networkConfiguration: {
						subnets: args.privateSubnetIds,
						securityGroups: isPublic ? [args.appSecurityGroupId, args.webSecurityGroupId] : [args.appSecurityGroupId],
						assignPublicIp: false,
					},
					...(isPublic
						? {
								loadBalancers: [{ targetGroupArn: targetGroup.arn, containerName: CONTAINER, containerPort: APP_PORT }],
								// A task waiting for its dependencies at start is not replaced before its wait ends.
								healthCheckGracePeriodSeconds: args.startupWaitSeconds + 30,
							}
						: {}),
					propagateTags: 'SERVICE',
					enableEcsManagedTags: true,
					tags: { ...tags, roles: group.roles.join('+') },
				},
				{
					parent: this,
					// A target group must be attached to a load balancer before a service can use it.
					...(isPublic ? { dependsOn: listeners } : {}),
					// Application Auto Scaling owns the api task count after creation.
					...(isPublic ? { ignoreChanges: ['desiredCount'] } : {}),
				},
			)
		}

		const api = services[publicGroup.name]
		if (!api) throw new Error(`no service for ${publicGroup.name}`)
		const scaling = new aws.appautoscaling.Target(
			`${name}-${publicGroup.name}-scaling`,
			{
				serviceNamespace: 'ecs',
				scalableDimension: 'ecs:service:DesiredCount',
				resourceId: pulumi.interpolate`service/${args.clusterName}/${api.name}`,
				minCapacity: minCount,
				maxCapacity: maxCount,
				tags,
			},
			parent,
		)
		// Scale out fast, in slowly: scaling in closes that task's WebSockets (clients reconnect).
		const cooldowns = { scaleOutCooldown: SCALE_OUT_COOLDOWN_S, scaleInCooldown: SCALE_IN_COOLDOWN_S }
		new aws.appautoscaling.Policy(
			`${name}-${publicGroup.name}-cpu`,
			{
				policyType: 'TargetTrackingScaling',
				serviceNamespace: scaling.serviceNamespace,
				scalableDimension: scaling.scalableDimension,
				resourceId: scaling.resourceId,
				targetTrackingScalingPolicyConfiguration: {
					targetValue: args.autoscaling.cpuTarget,
					predefinedMetricSpecification: { predefinedMetricType: 'ECSServiceAverageCPUUtilization' },
					...cooldowns,
				},
			},
			parent,
		)
		new aws.appautoscaling.Policy(
			`${name}-${publicGroup.name}-websockets`,
			{
				policyType: 'TargetTrackingScaling',
				serviceNamespace: scaling.serviceNamespace,
				scalableDimension: scaling.scalableDimension,
				resourceId: scaling.resourceId,
				targetTrackingScalingPolicyConfiguration: {
					targetValue: args.autoscaling.wsConnectionsTarget,
					// Each task's gauge is one data point per scrape: the average is sockets per task.
					customizedMetricSpecification: {
						namespace: args.metrics.namespace,
						metricName: WS_CONNECTIONS_METRIC,
						dimensions: [{ name: 'service', value: pulumi.interpolate`${args.clusterName}/${publicGroup.name}` }],
						statistic: 'Average',
					},
					...cooldowns,
				},
			},
			parent,
		)

		this.albDnsName = alb.dnsName
		const host = args.publicHostname ?? alb.dnsName
		this.url = pulumi.interpolate`${https ? 'https' : 'http'}://${host}`
		this.wsUrl = pulumi.interpolate`${https ? 'wss' : 'ws'}://${host}/live`
		this.targetGroupArn = targetGroup.arn
		this.serviceNames = Object.fromEntries(Object.entries(services).map(([group, s]) => [group, s.name]))
		this.logGroupNames = Object.fromEntries(Object.entries(logGroups).map(([group, lg]) => [group, lg.name]))
		this.registerOutputs({
			url: this.url,
			wsUrl: this.wsUrl,
			albDnsName: this.albDnsName,
			serviceNames: this.serviceNames,
			logGroupNames: this.logGroupNames,
		})
	}
}
