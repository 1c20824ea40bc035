// Redis, Postgres and NATS JetStream on the mocked default stack: private, encrypted, highly available.
import { beforeAll, describe, expect, test } from 'bun:test'
import { assertPulumiInstalled } from '../../pulumi/preflight'

assertPulumiInstalled()
const { deployForTest, NATS_CLIENT_PORT, NATS_ROUTE_PORT } = await import('../../pulumi/testing')

type Run = Awaited<ReturnType<typeof deployForTest>>
let run: Run
beforeAll(async () => {
	run = await deployForTest()
})

const privateSubnetIds = () =>
	run.deployment
		.ofType('aws:ec2/subnet:Subnet')
		.filter((s) => s.inputs.tags.tier === 'private')
		.map((s) => s.id)
const sgId = (group: string) => run.deployment.get('aws:ec2/securityGroup:SecurityGroup', `gavel-${group}-sg`).id
const one = (type: string) => {
	const found = run.deployment.ofType(type)
	expect(found).toHaveLength(1)
	return found[0] as NonNullable<(typeof found)[0]>
}

describe('RDS Postgres', () => {
	test('is Multi-AZ, encrypted, private and protected from deletion', () => {
		const db = one('aws:rds/instance:Instance')
		expect(db.inputs).toMatchObject({
			engine: 'postgres',
			publiclyAccessible: false,
			storageEncrypted: true,
			multiAz: true,
			deletionProtection: true,
			skipFinalSnapshot: false,
			dbName: 'gavel',
			vpcSecurityGroupIds: [sgId('db')],
		})
		expect(db.inputs.backupRetentionPeriod).toBeGreaterThan(0)
		expect(db.inputs.identifier).toMatch(/^gavel-db-[0-9a-f]{8}$/)
		expect(db.inputs.finalSnapshotIdentifier).toBe(`${db.inputs.identifier}-final`)
		const subnets = run.deployment.ofType('aws:rds/subnetGroup:SubnetGroup')[0]
		expect(db.inputs.dbSubnetGroupName).toBe(subnets?.state.name)
		expect(new Set(subnets?.inputs.subnetIds)).toEqual(new Set(privateSubnetIds()))
	})

	test('exports its Postgres log to a log group that has a retention', () => {
		const db = one('aws:rds/instance:Instance')
		expect(db.inputs.enabledCloudwatchLogsExports).toEqual(['postgresql'])
		const logGroup = run.deployment.get('aws:cloudwatch/logGroup:LogGroup', 'gavel-db-postgresql')
		expect(logGroup.inputs.name).toBe(`/aws/rds/instance/${db.inputs.identifier}/postgresql`)
		expect(logGroup.inputs.retentionInDays).toBeGreaterThan(0)
	})
})

describe('ElastiCache Redis', () => {
	test('is a Multi-AZ replication group with failover, TLS, encryption at rest and an AUTH token', () => {
		const redis = one('aws:elasticache/replicationGroup:ReplicationGroup')
		expect(redis.inputs).toMatchObject({
			multiAzEnabled: true,
			automaticFailoverEnabled: true,
			transitEncryptionEnabled: true,
			atRestEncryptionEnabled: true,
			port: 6379,
			securityGroupIds: [sgId('redis')],
		})
		expect(redis.inputs.numCacheClusters).toBeGreaterThanOrEqual(2)
		expect(redis.inputs.authToken).toMatch(/^[A-Za-z0-9]{16,128}$/)
		const subnets = one('aws:elasticache/subnetGroup:SubnetGroup')
		expect(redis.inputs.subnetGroupName).toBe(subnets.state.name)
		expect(new Set(subnets.inputs.subnetIds)).toEqual(new Set(privateSubnetIds()))
	})

	test('never evicts auction state', () => {
		const redis = one('aws:elasticache/replicationGroup:ReplicationGroup')
		const params = one('aws:elasticache/parameterGroup:ParameterGroup')
		expect(redis.inputs.parameterGroupName).toBe(params.state.name)
		expect(params.inputs.family).toBe('redis7')
		expect(params.inputs.parameters).toContainEqual({ name: 'maxmemory-policy', value: 'noeviction' })
	})
})

describe('NATS JetStream', () => {
	const natsServices = () =>
		run.deployment.ofType('aws:ecs/service:Service').filter((s) => /^gavel-nats-\d$/.test(s.name))
	const containerOf = (service: { inputs: Record<string, any> }) =>
		JSON.parse(run.deployment.byRef(service.inputs.taskDefinition).inputs.containerDefinitions)[0]

	test('runs three single-task services, each its own node with JetStream and routes to all three', () => {
		const services = natsServices()
		expect(services.map((s) => s.name).sort()).toEqual(['gavel-nats-0', 'gavel-nats-1', 'gavel-nats-2'])
		const namespace = one('aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace')
		const expectedRoutes = [0, 1, 2].map((i) => `nats://nats-${i}.${namespace.inputs.name}:${NATS_ROUTE_PORT}`)
		const names = new Set<string>()
		for (const s of services) {
			expect(s.inputs.desiredCount).toBe(1)
			// One task per JetStream directory, even during a deployment.
			expect(s.inputs.deploymentMinimumHealthyPercent).toBe(0)
			expect(s.inputs.deploymentMaximumPercent).toBe(100)
			const container = containerOf(s)
			expect(container.image).toMatch(/^nats:/)
			const args: string[] = container.command
			const flag = (name: string) => args[args.indexOf(name) + 1]
			expect(args).toContain('--jetstream')
			expect(flag('--store_dir')).toBe(container.mountPoints[0].containerPath)
			expect(flag('--cluster')).toBe(`nats://0.0.0.0:${NATS_ROUTE_PORT}`)
			expect(flag('--routes')?.split(',')).toEqual(expectedRoutes)
			expect(args).toContain('--no_advertise')
			names.add(flag('--name') ?? '')
			// Registered in Cloud Map under its own node name.
			const registry = run.deployment.byRef(s.inputs.serviceRegistries.registryArn)
			expect(registry.inputs.name).toBe(flag('--name'))
			expect(registry.inputs.dnsConfig.namespaceId).toBe(namespace.id)
		}
		expect(names).toEqual(new Set(['nats-0', 'nats-1', 'nats-2']))
	})

	test('spreads the nodes over the zones', () => {
		const subnets = natsServices().map((s) => s.inputs.networkConfiguration.subnets)
		for (const s of subnets) expect(s).toHaveLength(1)
		expect(new Set(subnets.flat())).toEqual(new Set(privateSubnetIds()))
	})

	test('stores each node on its own encrypted EFS access point, mounted with TLS and IAM', () => {
		const fs = one('aws:efs/fileSystem:FileSystem')
		expect(fs.inputs.encrypted).toBe(true)
		const mounts = run.deployment.ofType('aws:efs/mountTarget:MountTarget')
		expect(new Set(mounts.map((m) => m.inputs.subnetId))).toEqual(new Set(privateSubnetIds()))
		for (const m of mounts) expect(m.inputs.securityGroups).toEqual([sgId('efs')])
		const accessPoints = new Set<string>()
		for (const s of natsServices()) {
			const taskDef = run.deployment.byRef(s.inputs.taskDefinition)
			const [volume] = taskDef.inputs.volumes
			expect(volume.efsVolumeConfiguration).toMatchObject({
				fileSystemId: fs.id,
				transitEncryption: 'ENABLED',
				authorizationConfig: { iam: 'ENABLED' },
			})
			accessPoints.add(volume.efsVolumeConfiguration.authorizationConfig.accessPointId)
			expect(containerOf(s).mountPoints[0].sourceVolume).toBe(volume.name)
		}
		expect(accessPoints.size).toBe(3)
		for (const ap of accessPoints) expect(run.deployment.byRef(ap).inputs.fileSystemId).toBe(fs.id)
	})

	test('serves clients through an internal NLB on 4222 that the gavel tasks are pointed at', () => {
		const nlb = run.deployment.ofType('aws:lb/loadBalancer:LoadBalancer').find((lb) => lb.inputs.loadBalancerType === 'network')
		expect(nlb?.inputs.internal).toBe(true)
		expect(new Set(nlb?.inputs.subnets)).toEqual(new Set(privateSubnetIds()))
		expect(nlb?.inputs.securityGroups).toEqual([sgId('nlb')])
		const listener = run.deployment.ofType('aws:lb/listener:Listener').find((l) => l.inputs.loadBalancerArn === nlb?.state.arn)
		expect(listener?.inputs).toMatchObject({ port: NATS_CLIENT_PORT, protocol: 'TCP' })
		const tg = run.deployment.byRef(listener?.inputs.defaultActions[0].targetGroupArn)
		expect(tg.inputs).toMatchObject({ port: NATS_CLIENT_PORT, protocol: 'TCP', targetType: 'ip' })
		expect(tg.inputs.healthCheck).toMatchObject({ protocol: 'HTTP', port: '8222', path: '/healthz' })
		for (const s of natsServices())
			expect(s.inputs.loadBalancers).toEqual([{ targetGroupArn: tg.state.arn, containerName: 'nats', containerPort: NATS_CLIENT_PORT }])

		const api = run.deployment.get('aws:ecs/service:Service', 'gavel-api')
		const env = containerOf(api).environment as { name: string; value: string }[]
		expect(env).toContainEqual({ name: 'NATS_URL', value: `nats://${nlb?.state.dnsName}:${NATS_CLIENT_PORT}` })
	})
})
