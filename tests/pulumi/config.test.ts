// index.ts read against stack configuration, and the checks that refuse a broken deployment.
import { beforeAll, describe, expect, test } from 'bun:test'
import { assertPulumiInstalled } from '../../pulumi/preflight'

assertPulumiInstalled()
const h = await import('../../pulumi/testing')
const { deployForTest, runProgram, testStackArgs, checkRoleGroups, subnetCidr, ecrRepositoryArn } = h

type Program = Awaited<ReturnType<typeof runProgram>>
let program: Program
const CERT = 'arn:aws:acm:us-east-1:123456789012:certificate/aaaabbbb-cccc-dddd-eeee-ffff00001111'
const JWT = 'a-configured-jwt-secret-of-more-than-32-characters'

beforeAll(async () => {
	program = await runProgram(
		{
			image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/gavel@sha256:0123456789abcdef',
			authJwtSecret: JWT,
			authIssuer: 'https://issuer.example',
			certificateArn: CERT,
			publicHostname: 'bids.example.com',
			azCount: '3',
			singleNatGateway: 'true',
			logRetentionDays: '30',
			albIdleTimeoutSeconds: '200',
			httpIdleTimeoutSeconds: '210',
			natsImage: h.TEST_NATS_IMAGE,
			metricsCollectorImage: h.TEST_COLLECTOR_IMAGE,
			apiMinCount: '3',
			apiMaxCount: '12',
			dbDeletionProtection: 'false',
			logLevel: 'warn',
			redisShards: '3',
			redisReplicasPerShard: '2',
			// archiver + closer folded into one "workers" service; api resized.
			services: JSON.stringify({
				workers: { roles: 'archiver,closer', desiredCount: 2 },
				archiver: { roles: '' },
				closer: { roles: [] },
				api: { cpu: 2048, memory: 4096 },
			}),
		},
		['authJwtSecret'],
	)
})

const services = () => program.deployment.ofType('aws:ecs/service:Service').filter((s) => !/nats/.test(s.name))
const containerOf = (service: { inputs: Record<string, any> }) =>
	JSON.parse(program.deployment.byRef(service.inputs.taskDefinition).inputs.containerDefinitions)[0]
const env = (service: { inputs: Record<string, any> }) =>
	Object.fromEntries(containerOf(service).environment.map((e: { name: string; value: string }) => [e.name, e.value]))

describe('index.ts with stack configuration', () => {
	test('maps the services config onto role groups', () => {
		const byName = Object.fromEntries(services().map((s) => [s.name, s]))
		expect(Object.keys(byName).sort()).toEqual(['gavel-api', 'gavel-workers'])
		expect(env(byName['gavel-workers'] as NonNullable<(typeof byName)[string]>).ROLES).toBe('archiver,closer')
		expect(byName['gavel-workers']?.inputs.desiredCount).toBe(2)
		const api = byName['gavel-api'] as NonNullable<(typeof byName)[string]>
		expect(env(api).ROLES).toBe('api,live')
		const taskDef = program.deployment.byRef(api.inputs.taskDefinition)
		expect([taskDef.inputs.cpu, taskDef.inputs.memory]).toEqual(['2048', '4096'])
		expect(env(api)).toMatchObject({ LOG_LEVEL: 'warn', AUTH_ISSUER: 'https://issuer.example' })
		// Behind the ALB, per-address limits must see the client, not the balancer: only VPC hops are trusted.
		expect(env(api).TRUST_PROXY).toBe(program.deployment.ofType('aws:ec2/vpc:Vpc')[0]?.inputs.cidrBlock)
		expect(env(api).HTTP_IDLE_TIMEOUT_S).toBe('210')
	})

	test('applies network, logging, load balancer and scaling settings', () => {
		const subnets = program.deployment.ofType('aws:ec2/subnet:Subnet')
		expect(new Set(subnets.map((s) => s.inputs.availabilityZone)).size).toBe(3)
		expect(program.deployment.ofType('aws:ec2/natGateway:NatGateway')).toHaveLength(1)
		for (const lg of program.deployment.ofType('aws:cloudwatch/logGroup:LogGroup')) expect(lg.inputs.retentionInDays).toBe(30)
		const alb = program.deployment.ofType('aws:lb/loadBalancer:LoadBalancer').find((lb) => lb.inputs.loadBalancerType === 'application')
		expect(alb?.inputs.idleTimeout).toBe(200)
		const target = program.deployment.ofType('aws:appautoscaling/target:Target')[0]
		expect([target?.inputs.minCapacity, target?.inputs.maxCapacity]).toEqual([3, 12])
		expect(program.deployment.ofType('aws:rds/instance:Instance')[0]?.inputs.deletionProtection).toBe(false)
	})

	test('sizes the Redis Cluster and the stream replicas from their keys, for every gavel task', () => {
		const redis = program.deployment.ofType('aws:elasticache/replicationGroup:ReplicationGroup')[0]
		expect(redis?.inputs).toMatchObject({ clusterMode: 'enabled', numNodeGroups: 3, replicasPerNodeGroup: 2 })
		for (const s of services())
			expect(env(s)).toMatchObject({
				REDIS_CLUSTER_NODES: `${redis?.state.configurationEndpointAddress}:6379`,
				REDIS_TLS: 'true',
				REDIS_WAIT_REPLICAS: '1',
				NATS_STREAM_REPLICAS: '3',
			})
	})

	test('keeps the configured JWT secret a secret, delivered through Secrets Manager', () => {
		const version = program.deployment
			.ofType('aws:secretsmanager/secretVersion:SecretVersion')
			.find((v) => v.inputs.secretString === JWT)
		expect(version?.secretInputs.has('secretString')).toBe(true)
		const secret = program.deployment.byRef(version?.inputs.secretId)
		for (const s of services()) {
			expect(containerOf(s).secrets).toContainEqual({ name: 'AUTH_JWT_SECRET', valueFrom: secret.state.arn })
			expect(JSON.stringify(containerOf(s).environment)).not.toContain(JWT)
		}
	})

	test('checks each gavel container with the binary the Dockerfile installs, asking liveness by default', async () => {
		const dockerfile = await Bun.file(new URL('../../Dockerfile', import.meta.url)).text()
		const entrypoint = JSON.parse(/^ENTRYPOINT (.+)$/m.exec(dockerfile)?.[1] ?? '[]') as string[]
		expect(entrypoint).toHaveLength(1)
		for (const s of services())
			expect(containerOf(s).healthCheck).toEqual({
				command: ['CMD', entrypoint[0], 'health', '--live'],
				interval: 15,
				timeout: 5,
				retries: 3,
				startPeriod: 300,
			})
	})

	test('exports the public URLs on the configured host name, and the names operators need', () => {
		const { outputs } = program
		expect(outputs.url).toBe('https://bids.example.com')
		expect(outputs.wsUrl).toBe('wss://bids.example.com/live')
		const cluster = program.deployment.ofType('aws:ecs/cluster:Cluster')[0]
		expect(outputs.clusterName).toBe(cluster?.state.name)
		expect(Object.keys(outputs.serviceNames as object).sort()).toEqual(['api', 'workers'])
		expect(String(outputs.natsUrl).split(',')).toEqual([0, 1, 2].map((i) => `tls://nats-${i}.gavel-nats.internal:4222`))
		// What an operator's `nats` CLI needs inside the VPC: the password's secret and the CA.
		expect(outputs.natsPasswordSecretArn).toBe(program.deployment.get('aws:secretsmanager/secret:Secret', 'gavel-nats-password').state.arn)
		expect(outputs.natsCaCert).toBe(program.deployment.get('tls:index/selfSignedCert:SelfSignedCert', 'gavel-nats-ca').state.certPem)
		const redis = program.deployment.ofType('aws:elasticache/replicationGroup:ReplicationGroup')[0]
		expect(outputs.redisConfigurationEndpoint).toBe(redis?.state.configurationEndpointAddress)
		expect(outputs.redisPasswordSecretArn).toBe(program.deployment.get('aws:secretsmanager/secret:Secret', 'gavel-redis-password').state.arn)
		for (const key of ['albDnsName', 'logGroupNames', 'redisConfigurationEndpoint', 'databaseAddress', 'vpcId'])
			expect(outputs[key]).toBeTruthy()
	})
})

describe('refuses a broken deployment', () => {
	const groups = (...spec: [string, string[]][]) =>
		spec.map(([name, roles]) => ({ name, roles: roles as ('api' | 'live' | 'archiver' | 'closer')[], desiredCount: 1, cpu: 256, memory: 512 }))

	test('role groups must run every role exactly once, api and live together', () => {
		expect(checkRoleGroups(groups(['web', ['live', 'api']], ['bg', ['archiver', 'closer']])).name).toBe('web')
		expect(() => checkRoleGroups(groups(['api', ['api']], ['live', ['live']], ['bg', ['archiver', 'closer']]))).toThrow(
			/"api" and "live" must run in the same group/,
		)
		expect(() => checkRoleGroups(groups(['api', ['api', 'live']], ['archiver', ['archiver']]))).toThrow(/"closer" runs in no group/)
		expect(() => checkRoleGroups(groups(['api', ['api', 'live', 'closer']], ['bg', ['archiver', 'closer']]))).toThrow(
			/"closer" runs in both/,
		)
		expect(() => checkRoleGroups(groups(['api', ['api', 'live', 'bidder']], ['bg', ['archiver', 'closer']]))).toThrow(/unknown role/)
		expect(() => checkRoleGroups(groups(['API', ['api', 'live']], ['bg', ['archiver', 'closer']]))).toThrow(/group name/)
	})

	test('the ALB idle timeout must outlast gavel\'s WebSocket ping', async () => {
		await expect(deployForTest(testStackArgs((a) => void (a.service.timeouts.albIdleTimeoutS = 30)))).rejects.toThrow(/idle timeout \(30 s\) must be above the WebSocket ping interval/)
	})

	test('exactly one of a JWT secret and a JWKS URL', async () => {
		await expect(
			deployForTest(testStackArgs((a) => void (a.service.authJwksUrl = 'https://id.example/.well-known/jwks.json'))),
		).rejects.toThrow(/exactly one of authJwtSecret and authJwksUrl/)
		const jwksOnly = (a: Parameters<Parameters<typeof testStackArgs>[0]>[0]) => {
			delete a.service.authJwtSecret
			a.service.authJwksUrl = 'https://id.example/.well-known/jwks.json'
		}
		// Without issuer and audience, or over http, gavel would refuse to start in production.
		await expect(
			deployForTest(testStackArgs((a) => {
				jwksOnly(a)
				a.service.environment = {}
			})),
		).rejects.toThrow(/authJwksUrl needs AUTH_ISSUER and AUTH_AUDIENCE/)
		await expect(
			deployForTest(testStackArgs((a) => {
				jwksOnly(a)
				a.service.authJwksUrl = 'http://id.example/jwks'
			})),
		).rejects.toThrow(/must be https/)
		const jwks = await deployForTest(
			testStackArgs((a) => {
				jwksOnly(a)
				a.service.environment = { ...a.service.environment, AUTH_ISSUER: 'https://id.example/', AUTH_AUDIENCE: 'gavel' }
			}),
		)
		const api = jwks.deployment.get('aws:ecs/service:Service', 'gavel-api')
		const container = JSON.parse(jwks.deployment.byRef(api.inputs.taskDefinition).inputs.containerDefinitions)[0]
		expect(container.environment).toContainEqual({ name: 'AUTH_JWKS_URL', value: 'https://id.example/.well-known/jwks.json' })
		expect(container.secrets.map((s: { name: string }) => s.name).sort()).toEqual(['DATABASE_URL', 'NATS_PASSWORD', 'REDIS_PASSWORD'])
	})

	test('a stack still setting cacheNodeCount (from before cluster mode) fails at preview, naming the new keys', async () => {
		// index.ts runs once per process, and this process already ran it: ask a fresh one.
		const testing = new URL('../../pulumi/testing.ts', import.meta.url).pathname
		const script = `
			const { runProgram } = await import(${JSON.stringify(testing)})
			await runProgram({ image: 'ghcr.io/acme/gavel:1', authJwtSecret: '${JWT}', cacheNodeCount: '2' })
				.then(() => console.log('deployed'), (e) => console.log(e.message))`
		const child = Bun.spawn([process.execPath, '-e', script], { stdout: 'pipe', stderr: 'inherit' })
		const out = await new Response(child.stdout).text()
		expect(await child.exited).toBe(0)
		expect(out).toContain('cacheNodeCount is gone')
		expect(out).toContain('redisShards and redisReplicasPerShard')
	})

	test('Redis needs a replica per shard for failover, and the VPC two or three zones', async () => {
		await expect(deployForTest(testStackArgs((a) => void (a.cache.replicasPerShard = 0)))).rejects.toThrow(/redisReplicasPerShard must be at least 1/)
		await expect(deployForTest(testStackArgs((a) => void (a.network.azCount = 4)))).rejects.toThrow(/azCount must be 2 or 3/)
	})
})

describe('helpers', () => {
	test('subnetCidr carves subnets like cidrsubnet', () => {
		expect(subnetCidr('10.0.0.0/16', 4, 0)).toBe('10.0.0.0/20')
		expect(subnetCidr('10.0.0.0/16', 4, 1)).toBe('10.0.16.0/20')
		expect(subnetCidr('10.0.0.0/16', 4, 10)).toBe('10.0.160.0/20')
		expect(subnetCidr('172.16.0.0/12', 4, 15)).toBe('172.31.0.0/16')
		expect(() => subnetCidr('10.0.0.0/16', 4, 16)).toThrow()
		expect(() => subnetCidr('10.0.0/16', 4, 0)).toThrow(/not an IPv4 CIDR/)
	})

	test('ecrRepositoryArn finds the repository of a private ECR image only', () => {
		expect(ecrRepositoryArn('123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/gavel:1.2.3')).toBe(
			'arn:aws:ecr:eu-west-1:123456789012:repository/team/gavel',
		)
		expect(ecrRepositoryArn('123456789012.dkr.ecr.us-east-1.amazonaws.com/gavel@sha256:abc')).toBe(
			'arn:aws:ecr:us-east-1:123456789012:repository/gavel',
		)
		expect(ecrRepositoryArn('ghcr.io/acme/gavel:1')).toBeUndefined()
	})

	test('the test preflight names the install command when pulumi/node_modules is missing', () => {
		expect(() => assertPulumiInstalled('/nonexistent/pulumi')).toThrow(/Run `bun install` from the repo root/)
	})
})
