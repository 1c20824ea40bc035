// Test harness for tests/pulumi (run by `bun test` from the repo root). The root package does not
// depend on @pulumi/*, so tests import this file: the program, the mocks and these helpers then
// share the one @pulumi/pulumi in pulumi/node_modules (two copies would not see each other's mocks).
import * as pulumi from '@pulumi/pulumi'
import { DEFAULT_ROLE_GROUPS } from './components/service'
import { deployGavel, type GavelStack, type GavelStackArgs, STACK_DEFAULTS } from './stack'

export { checkStreamReplicas, NATS_HEALTH_PATH } from './components/bus'
export { NATS_RUN_DIR, NATS_START_ENV, NATS_STORE_DIR, NATS_USER } from './components/nats-server'
export { checkFargateSize, isFargateSize } from './components/fargate'
export { checkImage, isPinnedImage } from './components/images'
export { ARCHIVE_METRICS, STORE_METRICS, WS_CONNECTIONS_METRIC } from './components/metrics'
export { DEFAULT_TIMEOUTS, type Timeouts, timeoutProblemsOfStack } from './components/timeouts'
export { checkCacheTopology, waitReplicasFor } from './components/cache'
export { APP_PORT, NATS_CLIENT_PORT, NATS_MONITOR_PORT, NATS_ROUTE_PORT, METRICS_PORT, POSTGRES_PORT, REDIS_PORT } from './components/firewall'
export { ecrRepositoryArn } from './components/iam'
export { subnetCidr } from './components/network'
export { checkRoleGroups, DEFAULT_ROLE_GROUPS, RDS_CA_FILE, type RoleGroup } from './components/service'
export { STACK_DEFAULTS } from './stack'

export const MOCK_ACCOUNT = '123456789012'
export const MOCK_REGION = 'us-east-1'
export const MOCK_ZONES = ['us-east-1a', 'us-east-1b', 'us-east-1c']
export const TEST_CERTIFICATE_ARN = `arn:aws:acm:${MOCK_REGION}:${MOCK_ACCOUNT}:certificate/0f0e0d0c-1111-2222-3333-444455556666`
// Made-up digests for the mocks only: no real image has them (README "Pinned images" says how to find real ones).
export const TEST_NATS_IMAGE = `nats@sha256:${'ab'.repeat(32)}`
export const TEST_COLLECTOR_IMAGE = `public.ecr.aws/aws-observability/aws-otel-collector@sha256:${'cd'.repeat(32)}`

/** One resource as the program registered it: `inputs` as sent, `state` as the mock answered. */
export interface RecordedResource {
	type: string
	name: string
	custom: boolean
	id: string
	// Provider inputs are untyped JSON here: tests walk them freely and the assertions check them.
	inputs: Record<string, any>
	state: Record<string, any>
	/** Top-level input names that arrived as Pulumi secrets (their values are unwrapped in `inputs`). */
	secretInputs: Set<string>
}

export interface RecordedCall {
	token: string
	inputs: Record<string, unknown>
}

/** Deployment is what a mocked run registered, with finders that fail loudly on a miss. */
export class Deployment {
	constructor(
		readonly resources: RecordedResource[],
		readonly calls: RecordedCall[],
		/** `start:<type>::<name>` when a registration reached the mocks, `end:<type>::<name>` when the mock answered it. */
		readonly timeline: string[] = [],
	) {}

	/** All custom resources of a type token, e.g. `aws:ecs/service:Service`. */
	ofType(type: string): RecordedResource[] {
		return this.resources.filter((r) => r.custom && r.type === type)
	}

	/** The resource of that type and logical name; throws when there is none. */
	get(type: string, name: string): RecordedResource {
		const found = this.resources.find((r) => r.type === type && r.name === name)
		if (!found) {
			const names = this.ofType(type).map((r) => r.name)
			throw new Error(`no ${type} named ${name}; have: ${names.join(', ') || 'none'}`)
		}
		return found
	}

	/** The resource whose mocked id or ARN is `ref`; throws when there is none. */
	byRef(ref: unknown): RecordedResource {
		const found = this.resources.find((r) => r.custom && (r.id === ref || r.state.arn === ref))
		if (!found) throw new Error(`no resource has id or arn ${String(ref)}`)
		return found
	}
}

/** resolve waits for an Output (or plain Input) and returns its value, secrets unwrapped. */
export function resolve<T>(input: pulumi.Input<T>): Promise<T> {
	return new Promise((done) => {
		pulumi.output(input).apply((value) => {
			done(value as T)
			return value
		})
	})
}

/**
 * testStackArgs is a complete set of production stack args (not development: HTTPS, pinned
 * images) with the program's defaults and a fake image, certificate and JWT secret; `change` edits a copy (e.g. `(a) => { a.service.certificateArn = '…' }`).
 */
export function testStackArgs(change?: (args: GavelStackArgs) => void): GavelStackArgs {
	const args: GavelStackArgs = {
		name: 'gavel',
		development: false,
		tags: { app: 'gavel', stack: 'test' },
		logRetentionDays: STACK_DEFAULTS.logRetentionDays,
		network: { cidrBlock: STACK_DEFAULTS.vpcCidr, azCount: STACK_DEFAULTS.azCount },
		cluster: { containerInsights: true },
		cache: {
			nodeType: STACK_DEFAULTS.cacheNodeType,
			shards: STACK_DEFAULTS.redisShards,
			replicasPerShard: STACK_DEFAULTS.redisReplicasPerShard,
		},
		database: {
			instanceClass: STACK_DEFAULTS.dbInstanceClass,
			engineVersion: STACK_DEFAULTS.dbEngineVersion,
			allocatedStorage: STACK_DEFAULTS.dbAllocatedStorage,
			maxAllocatedStorage: STACK_DEFAULTS.dbMaxAllocatedStorage,
		},
		bus: {
			image: TEST_NATS_IMAGE,
			cpu: STACK_DEFAULTS.natsCpu,
			memory: STACK_DEFAULTS.natsMemory,
			streamReplicas: STACK_DEFAULTS.natsStreamReplicas,
		},
		service: {
			image: `${MOCK_ACCOUNT}.dkr.ecr.${MOCK_REGION}.amazonaws.com/gavel:1.0.0`,
			groups: DEFAULT_ROLE_GROUPS.map((g) => ({ ...g, roles: [...g.roles] })),
			logLevel: 'info',
			authJwtSecret: pulumi.secret('test-jwt-secret-that-is-at-least-32-chars'),
			certificateArn: TEST_CERTIFICATE_ARN,
			timeouts: { ...STACK_DEFAULTS.timeouts },
			startupWaitSeconds: STACK_DEFAULTS.startupWaitSeconds,
			healthCheckCommand: [...STACK_DEFAULTS.healthCheckCommand],
			metrics: { collectorImage: TEST_COLLECTOR_IMAGE, namespace: STACK_DEFAULTS.metricsNamespace },
			autoscaling: {
				minCount: STACK_DEFAULTS.apiMinCount,
				maxCount: STACK_DEFAULTS.apiMaxCount,
				cpuTarget: STACK_DEFAULTS.apiCpuTarget,
				wsConnectionsTarget: STACK_DEFAULTS.apiWsConnectionsTarget,
			},
		},
	}
	change?.(args)
	return args
}

/**
 * deployForTest runs deployGavel against Pulumi mocks and returns, once every registration has
 * finished, the recorded resources and calls plus the stack's components. Runs are sequential:
 * the mocks are process-wide.
 */
export async function deployForTest(
	args: GavelStackArgs = testStackArgs(),
	/** Answer these resources (`<type>::<name>`) this many ms late, to see what waits for them. */
	delays: Record<string, number> = {},
): Promise<{ deployment: Deployment; stack: GavelStack }> {
	const deployment = await startMocks(delays)
	try {
		return { deployment, stack: deployGavel(args) }
	} finally {
		// Also after a throw: registrations already under way must land in this run's mocks, not the next.
		await settle()
	}
}

let programRan = false

/**
 * runProgram evaluates index.ts itself with this stack configuration (keys without the `gavel:`
 * namespace; `secretKeys` are marked secret) and returns the recorded deployment and the stack
 * outputs. A module is evaluated once per process, so this may be called once.
 */
export async function runProgram(
	config: Record<string, string>,
	secretKeys: string[] = [],
): Promise<{ deployment: Deployment; outputs: Record<string, unknown> }> {
	if (programRan) throw new Error('runProgram: index.ts can be evaluated only once per process')
	programRan = true
	const deployment = await startMocks()
	const namespaced = (key: string) => (key.includes(':') ? key : `gavel:${key}`)
	pulumi.runtime.setAllConfig(
		Object.fromEntries(Object.entries(config).map(([k, v]) => [namespaced(k), v])),
		secretKeys.map(namespaced),
	)
	const program: Record<string, unknown> = await import('./index')
	const outputs: Record<string, unknown> = {}
	for (const [key, value] of Object.entries(program)) outputs[key] = await resolve(value)
	await settle()
	return { deployment, outputs }
}

async function startMocks(delays: Record<string, number> = {}): Promise<Deployment> {
	const resources: RecordedResource[] = []
	const calls: RecordedCall[] = []
	const timeline: string[] = []
	await pulumi.runtime.setMocks(
		{
			async newResource(args) {
				const key = `${args.type}::${args.name}`
				timeline.push(`start:${key}`)
				const delay = delays[key]
				if (delay !== undefined) await new Promise((done) => setTimeout(done, delay))
				timeline.push(`end:${key}`)
				const raw: Record<string, unknown> = args.inputs ?? {}
				const secretInputs = new Set(Object.keys(raw).filter((key) => isSecretValue(raw[key])))
				const inputs = unwrapSecrets(raw) as Record<string, unknown>
				const { id, state } = mockState(args.type, args.name, inputs)
				resources.push({ type: args.type, name: args.name, custom: args.custom ?? false, id, inputs, state, secretInputs })
				// Answer with the raw inputs so secrets stay secret in the outputs.
				return { id, state: { ...state, ...raw } }
			},
			call(args) {
				calls.push({ token: args.token, inputs: args.inputs ?? {} })
				return mockCall(args.token)
			},
		},
		'gavel',
		'test',
		false,
	)
	return new Deployment(resources, calls, timeline)
}

// How the runtime hands a secret to the mocks: { [specialSigKey]: specialSecretSig, value }.
function isSecretValue(value: unknown): value is { value: unknown } {
	return (
		typeof value === 'object' &&
		value !== null &&
		(value as Record<string, unknown>)[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig
	)
}

function unwrapSecrets(value: unknown): unknown {
	if (isSecretValue(value)) return unwrapSecrets(value.value)
	if (Array.isArray(value)) return value.map(unwrapSecrets)
	if (typeof value === 'object' && value !== null)
		return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v)]))
	return value
}

// Waits until every registration (and anything it triggered) has reached the mocks.
async function settle(): Promise<void> {
	await pulumi.runtime.disconnect()
}

function mockCall(token: string): Record<string, unknown> {
	switch (token) {
		case 'aws:index/getAvailabilityZones:getAvailabilityZones':
			return {
				id: MOCK_REGION,
				names: MOCK_ZONES,
				zoneIds: ['use1-az1', 'use1-az2', 'use1-az4'],
				groupNames: [MOCK_REGION],
			}
		case 'aws:index/getRegion:getRegion':
			return {
				id: MOCK_REGION,
				name: MOCK_REGION,
				region: MOCK_REGION,
				endpoint: `ec2.${MOCK_REGION}.amazonaws.com`,
				description: 'US East (N. Virginia)',
			}
		case 'aws:index/getCallerIdentity:getCallerIdentity':
			return { id: MOCK_ACCOUNT, accountId: MOCK_ACCOUNT, arn: `arn:aws:iam::${MOCK_ACCOUNT}:user/test`, userId: 'AIDATEST' }
		default:
			// An unmocked data source would silently return nothing: make the test say so.
			throw new Error(`no mock for call ${token}`)
	}
}

// Stable fake hex from a name, so ids and DNS names look real and repeat across runs.
function hex(seed: string, length: number): string {
	let h = 0x811c9dc5
	let out = ''
	for (let round = 0; out.length < length; round++) {
		for (const ch of `${seed}#${round}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0
		out += h.toString(16).padStart(8, '0')
	}
	return out.slice(0, length)
}

const ID_PREFIX: Record<string, string> = {
	'aws:ec2/vpc:Vpc': 'vpc-',
	'aws:ec2/subnet:Subnet': 'subnet-',
	'aws:ec2/securityGroup:SecurityGroup': 'sg-',
	'aws:ec2/internetGateway:InternetGateway': 'igw-',
	'aws:ec2/natGateway:NatGateway': 'nat-',
	'aws:ec2/eip:Eip': 'eipalloc-',
	'aws:ec2/routeTable:RouteTable': 'rtb-',
	'aws:ec2/routeTableAssociation:RouteTableAssociation': 'rtbassoc-',
	'aws:ec2/vpcEndpoint:VpcEndpoint': 'vpce-',
	'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule': 'sgr-',
	'aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule': 'sgr-',
	'aws:efs/fileSystem:FileSystem': 'fs-',
	'aws:efs/accessPoint:AccessPoint': 'fsap-',
	'aws:efs/mountTarget:MountTarget': 'fsmt-',
	'aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace': 'ns-',
	'aws:servicediscovery/service:Service': 'srv-',
}

function mockState(type: string, name: string, inputs: Record<string, unknown>): { id: string; state: Record<string, unknown> } {
	const arn = (service: string, resource: string) => `arn:aws:${service}:${MOCK_REGION}:${MOCK_ACCOUNT}:${resource}`
	const physical = typeof inputs.name === 'string' ? inputs.name : `${name}-${hex(name, 7)}`
	const prefix = ID_PREFIX[type]
	let id = prefix ? `${prefix}${hex(name, 17)}` : physical
	const state: Record<string, unknown> = { ...inputs, name: physical }
	switch (type) {
		case 'aws:ec2/vpc:Vpc':
		case 'aws:ec2/subnet:Subnet':
		case 'aws:ec2/securityGroup:SecurityGroup':
		case 'aws:ec2/routeTable:RouteTable':
		case 'aws:ec2/natGateway:NatGateway':
		case 'aws:ec2/internetGateway:InternetGateway': {
			const kind = type.split(':')[2]?.replace(/[A-Z]/g, (c, i: number) => (i ? '-' : '') + c.toLowerCase())
			state.arn = arn('ec2', `${kind}/${id}`)
			break
		}
		case 'aws:ecs/cluster:Cluster':
			state.arn = arn('ecs', `cluster/${physical}`)
			break
		case 'aws:ecs/service:Service':
			state.arn = arn('ecs', `service/${hex('cluster', 6)}/${physical}`)
			break
		case 'aws:ecs/taskDefinition:TaskDefinition':
			state.arn = arn('ecs', `task-definition/${String(inputs.family)}:1`)
			state.revision = 1
			break
		case 'aws:lb/loadBalancer:LoadBalancer': {
			const kind = inputs.loadBalancerType === 'network' ? 'net' : 'app'
			const suffix = `${kind}/${physical}/${hex(name, 16)}`
			state.arn = arn('elasticloadbalancing', `loadbalancer/${suffix}`)
			state.arnSuffix = suffix
			state.dnsName = `${inputs.internal ? 'internal-' : ''}${physical}-${hex(name, 10)}.elb.${MOCK_REGION}.amazonaws.com`
			state.zoneId = 'Z35SXDOTRQ7X7K'
			break
		}
		case 'aws:lb/targetGroup:TargetGroup': {
			const suffix = `targetgroup/${physical}/${hex(name, 16)}`
			state.arn = arn('elasticloadbalancing', suffix)
			state.arnSuffix = suffix
			break
		}
		case 'aws:lb/listener:Listener':
			state.arn = arn('elasticloadbalancing', `listener/${hex(name, 16)}`)
			break
		case 'aws:iam/role:Role':
			state.arn = `arn:aws:iam::${MOCK_ACCOUNT}:role/${physical}`
			break
		case 'aws:cloudwatch/logGroup:LogGroup':
			state.arn = arn('logs', `log-group:${physical}`)
			break
		case 'aws:secretsmanager/secret:Secret':
			state.arn = arn('secretsmanager', `secret:${physical}-${hex(name, 6)}`)
			break
		case 'aws:elasticache/replicationGroup:ReplicationGroup':
			state.arn = arn('elasticache', `replicationgroup:${physical}`)
			// Like AWS: a cluster-mode group has a configuration endpoint and no primary or reader endpoint.
			if (inputs.numNodeGroups !== undefined)
				state.configurationEndpointAddress = `clustercfg.${physical}.${hex(name, 6)}.use1.cache.amazonaws.com`
			else {
				state.primaryEndpointAddress = `master.${physical}.${hex(name, 6)}.use1.cache.amazonaws.com`
				state.readerEndpointAddress = `replica.${physical}.${hex(name, 6)}.use1.cache.amazonaws.com`
			}
			break
		case 'aws:rds/instance:Instance':
			state.arn = arn('rds', `db:${physical}`)
			state.identifier = physical
			state.address = `${physical}.${hex(name, 12)}.${MOCK_REGION}.rds.amazonaws.com`
			state.port = inputs.port ?? 5432
			state.endpoint = `${state.address}:${state.port}`
			break
		case 'aws:efs/fileSystem:FileSystem':
			state.arn = arn('elasticfilesystem', `file-system/${id}`)
			state.dnsName = `${id}.efs.${MOCK_REGION}.amazonaws.com`
			break
		case 'aws:efs/accessPoint:AccessPoint':
			state.arn = arn('elasticfilesystem', `access-point/${id}`)
			break
		case 'aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace':
			state.arn = arn('servicediscovery', `namespace/${id}`)
			state.hostedZone = `Z${hex(name, 13).toUpperCase()}`
			break
		case 'aws:servicediscovery/service:Service':
			state.arn = arn('servicediscovery', `service/${id}`)
			break
		case 'aws:sns/topic:Topic':
			state.arn = arn('sns', physical)
			id = state.arn as string
			break
		case 'aws:appautoscaling/target:Target':
			state.arn = arn('application-autoscaling', `scalable-target/${hex(name, 20)}`)
			break
		case 'aws:appautoscaling/policy:Policy':
			state.arn = arn('autoscaling', `scalingPolicy:${hex(name, 8)}:resource/ecs/${name}`)
			break
		case 'random:index/randomPassword:RandomPassword': {
			const length = typeof inputs.length === 'number' ? inputs.length : 16
			state.result = `Pw${hex(name, length)}`.slice(0, length)
			state.bcryptHash = '$2a$10$mock'
			break
		}
		// Made-up PEM text: the mocks only carry it from resource to resource (tests/pulumi/nats-server.test.ts runs real ones).
		case 'tls:index/privateKey:PrivateKey':
			state.privateKeyPem = mockPem('PRIVATE KEY', `mock-key-${name}`)
			state.publicKeyPem = mockPem('PUBLIC KEY', `mock-public-${name}`)
			break
		case 'tls:index/selfSignedCert:SelfSignedCert':
		case 'tls:index/locallySignedCert:LocallySignedCert':
			state.certPem = mockPem('CERTIFICATE', `mock-cert-${name}`)
			break
		case 'tls:index/certRequest:CertRequest':
			state.certRequestPem = mockPem('CERTIFICATE REQUEST', `mock-csr-${name}`)
			break
		case 'random:index/randomId:RandomId':
			state.hex = hex(name, 8)
			state.b64Url = hex(name, 11)
			break
	}
	// Like AWS: these resources' ids are their ARNs.
	if (ARN_IDS.has(type) && typeof state.arn === 'string') id = state.arn
	return { id, state }
}

function mockPem(label: string, body: string): string {
	return `-----BEGIN ${label}-----\n${Buffer.from(body).toString('base64')}\n-----END ${label}-----\n`
}

const ARN_IDS = new Set([
	'aws:secretsmanager/secret:Secret',
	'aws:ecs/cluster:Cluster',
	'aws:ecs/service:Service',
	'aws:lb/loadBalancer:LoadBalancer',
	'aws:lb/targetGroup:TargetGroup',
	'aws:lb/listener:Listener',
])
