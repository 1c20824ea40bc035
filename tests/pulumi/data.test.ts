// Redis, Postgres and NATS JetStream on the mocked default stack: private, encrypted, highly available.
import { beforeAll, describe, expect, test } from 'bun:test'
import { assertPulumiInstalled } from '../../pulumi/preflight'

assertPulumiInstalled()
const {
	checkCacheTopology,
	checkStreamReplicas,
	deployForTest,
	NATS_CLIENT_PORT,
	NATS_MONITOR_PORT,
	NATS_ROUTE_PORT,
	NATS_START_ENV,
	NATS_STORE_DIR,
	NATS_USER,
	RDS_CA_FILE,
	STACK_DEFAULTS,
	testStackArgs,
	waitReplicasFor,
} = await import('../../pulumi/testing')

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
const containerOf = (service: { inputs: Record<string, any> }) =>
	JSON.parse(run.deployment.byRef(service.inputs.taskDefinition).inputs.containerDefinitions)[0]
const envOf = (service: { inputs: Record<string, any> }) =>
	Object.fromEntries((containerOf(service).environment as { name: string; value: string }[]).map((e) => [e.name, e.value]))
const secretsOf = (service: { inputs: Record<string, any> }) =>
	Object.fromEntries((containerOf(service).secrets as { name: string; valueFrom: string }[]).map((e) => [e.name, e.valueFrom]))
/** A NATS node's config (NATS_CONFIG): a setting's JSON value, and a block's text (2-space indents). */
const setting = (conf: string, key: string) => {
	const found = new RegExp(`^\\s*${key}: (.+)$`, 'm').exec(conf)
	return found ? JSON.parse(found[1] as string) : undefined
}
const block = (conf: string, name: string) => new RegExp(`^( *)${name} \\{\n([\\s\\S]*?)^\\1\\}`, 'm').exec(conf)?.[2] ?? ''
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

describe('Postgres credentials', () => {
	test('gavel connects as its own role with the server certificate verified; only the archiver gets the owner', () => {
		const urlOf = (secretName: string) => {
			const secret = run.deployment.get('aws:secretsmanager/secret:Secret', secretName)
			return {
				arn: secret.state.arn,
				url: new URL(run.deployment.ofType('aws:secretsmanager/secretVersion:SecretVersion').find((v) => v.inputs.secretId === secret.id)?.inputs.secretString),
			}
		}
		const app = urlOf('gavel-database-url')
		const owner = urlOf('gavel-database-migration-url')
		expect(app.url.username).toBe('gavel_app')
		expect(owner.url.username).toBe(one('aws:rds/instance:Instance').inputs.username)
		for (const { url } of [app, owner]) expect(url.searchParams.get('sslmode')).toBe('verify-full')
		for (const s of run.deployment.ofType('aws:ecs/service:Service').filter((x) => containerOf(x).name === 'gavel')) {
			const container = containerOf(s)
			const secrets = Object.fromEntries((container.secrets as { name: string; valueFrom: string }[]).map((x) => [x.name, x.valueFrom]))
			expect(secrets.DATABASE_URL).toBe(app.arn)
			expect(secrets.DATABASE_MIGRATION_URL).toBe(s.name === 'gavel-archiver' ? owner.arn : undefined)
			expect(container.environment).toContainEqual({ name: 'DATABASE_CA_FILE', value: RDS_CA_FILE })
		}
	})
})

describe('ElastiCache Redis', () => {
	test('is a cluster-mode replication group of the configured shards and replicas, with failover, Multi-AZ, TLS, encryption at rest and an AUTH token', () => {
		const redis = one('aws:elasticache/replicationGroup:ReplicationGroup')
		expect(redis.inputs).toMatchObject({
			clusterMode: 'enabled',
			numNodeGroups: STACK_DEFAULTS.redisShards,
			replicasPerNodeGroup: STACK_DEFAULTS.redisReplicasPerShard,
			multiAzEnabled: true,
			automaticFailoverEnabled: true,
			transitEncryptionEnabled: true,
			atRestEncryptionEnabled: true,
			port: 6379,
			securityGroupIds: [sgId('redis')],
		})
		// numCacheClusters is the cluster-mode-off way of sizing a group; AWS refuses it beside numNodeGroups.
		expect(redis.inputs.numCacheClusters).toBeUndefined()
		expect(redis.inputs.authToken).toMatch(/^[A-Za-z0-9]{16,128}$/)
		const subnets = one('aws:elasticache/subnetGroup:SubnetGroup')
		expect(redis.inputs.subnetGroupName).toBe(subnets.state.name)
		expect(new Set(subnets.inputs.subnetIds)).toEqual(new Set(privateSubnetIds()))
	})

	test('has cluster mode on in its parameter group and never evicts auction state', () => {
		const redis = one('aws:elasticache/replicationGroup:ReplicationGroup')
		const params = one('aws:elasticache/parameterGroup:ParameterGroup')
		expect(redis.inputs.parameterGroupName).toBe(params.state.name)
		expect(params.inputs.family).toBe('redis7')
		expect(params.inputs.parameters).toContainEqual({ name: 'cluster-enabled', value: 'yes' })
		expect(params.inputs.parameters).toContainEqual({ name: 'maxmemory-policy', value: 'noeviction' })
	})

	test('takes the shards and replicas per shard from the stack settings', async () => {
		const sized = await deployForTest(
			testStackArgs((a) => {
				a.cache.shards = 5
				a.cache.replicasPerShard = 2
			}),
		)
		const [redis] = sized.deployment.ofType('aws:elasticache/replicationGroup:ReplicationGroup')
		expect(redis?.inputs).toMatchObject({ numNodeGroups: 5, replicasPerNodeGroup: 2, multiAzEnabled: true, automaticFailoverEnabled: true })
		// Each write waits for one replica whatever the replica count (waitReplicasFor).
		const api = sized.deployment.get('aws:ecs/service:Service', 'gavel-api')
		const env = JSON.parse(sized.deployment.byRef(api.inputs.taskDefinition).inputs.containerDefinitions)[0].environment
		expect(env).toContainEqual({ name: 'REDIS_WAIT_REPLICAS', value: '1' })
	})

	test('refuses shard layouts ElastiCache refuses or that cannot fail over', async () => {
		expect(() => checkCacheTopology(1, 1)).not.toThrow()
		expect(() => checkCacheTopology(500, 0)).toThrow(/redisReplicasPerShard must be at least 1: failover/)
		expect(() => checkCacheTopology(83, 5)).not.toThrow()
		for (const shards of [0, -1, 1.5, 501, Number.NaN]) expect(() => checkCacheTopology(shards, 1)).toThrow(/redisShards must be/)
		for (const replicas of [-1, 6, 0.5]) expect(() => checkCacheTopology(2, replicas)).toThrow(/redisReplicasPerShard must be a whole number 1\.\.5/)
		expect(() => checkCacheTopology(100, 5)).toThrow(/600 nodes; ElastiCache allows 500/)
		// And the stack refuses them at preview, before any resource is made.
		await expect(deployForTest(testStackArgs((a) => void (a.cache.replicasPerShard = 0)))).rejects.toThrow(/at least 1/)
		await expect(deployForTest(testStackArgs((a) => void (a.cache.shards = 0)))).rejects.toThrow(/redisShards must be/)
	})

	test('waits for one replica per write, none without replicas', () => {
		expect([0, 1, 2, 5].map(waitReplicasFor)).toEqual([0, 1, 1, 1])
	})
})

describe('gavel tasks', () => {
	const appServices = () => run.deployment.ofType('aws:ecs/service:Service').filter((s) => containerOf(s).name === 'gavel')

	test('reach the Redis Cluster through its configuration endpoint, with TLS and the AUTH token as a secret', () => {
		const redis = one('aws:elasticache/replicationGroup:ReplicationGroup')
		const passwordSecret = run.deployment.get('aws:secretsmanager/secret:Secret', 'gavel-redis-password')
		const version = run.deployment
			.ofType('aws:secretsmanager/secretVersion:SecretVersion')
			.find((v) => v.inputs.secretId === passwordSecret.id)
		expect(version?.inputs.secretString).toBe(redis.inputs.authToken)
		expect(version?.secretInputs.has('secretString')).toBe(true)
		const services = appServices()
		expect(services.map((s) => envOf(s).ROLES).sort()).toEqual(['api,live', 'archiver', 'closer'])
		for (const s of services) {
			const env = envOf(s)
			expect(env.REDIS_CLUSTER_NODES).toBe(`${redis.state.configurationEndpointAddress}:6379`)
			expect(env.REDIS_CLUSTER_NODES).toMatch(/^clustercfg\..+\.cache\.amazonaws\.com:6379$/)
			expect(env.REDIS_TLS).toBe('true')
			expect(env.REDIS_WAIT_REPLICAS).toBe(String(Math.min(STACK_DEFAULTS.redisReplicasPerShard, 1)))
			// The cluster variables replace the single-endpoint one: gavel must not get both.
			expect(env.REDIS_URL).toBeUndefined()
			const secrets = containerOf(s).secrets as { name: string; valueFrom: string }[]
			expect(secrets).toContainEqual({ name: 'REDIS_PASSWORD', valueFrom: passwordSecret.state.arn })
			expect(secrets.map((x) => x.name)).not.toContain('REDIS_URL')
		}
	})

	test('reach every NATS node by name and replicate the streams three times', () => {
		const namespace = one('aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace')
		const registries = run.deployment.ofType('aws:servicediscovery/service:Service')
		const nodeUrls = registries.map((r) => `tls://${r.inputs.name}.${namespace.inputs.name}:${NATS_CLIENT_PORT}`).sort()
		expect(nodeUrls).toHaveLength(3)
		for (const s of appServices()) {
			const env = envOf(s)
			const servers = (env.NATS_URL ?? '').split(',')
			expect(servers).toHaveLength(3)
			expect([...servers].sort()).toEqual(nodeUrls)
			expect(env.NATS_STREAM_REPLICAS).toBe('3')
		}
	})

	test("log in to NATS as its user, the password a secret, over TLS checked against the stack's CA", () => {
		const passwordSecret = run.deployment.get('aws:secretsmanager/secret:Secret', 'gavel-nats-password')
		const ca = run.deployment.get('tls:index/selfSignedCert:SelfSignedCert', 'gavel-nats-ca')
		for (const s of appServices()) {
			const env = envOf(s)
			expect(env.NATS_USER).toBe(NATS_USER)
			expect(secretsOf(s).NATS_PASSWORD).toBe(passwordSecret.state.arn)
			expect(env.NATS_PASSWORD).toBeUndefined()
			// The CA as text (the image has no shell to write a file); gavel then requires TLS of every server.
			expect(env.NATS_CA).toBe(ca.state.certPem)
			expect(env.NATS_CA).toStartWith('-----BEGIN CERTIFICATE-----')
			expect(env.NATS_CA_FILE).toBeUndefined()
		}
	})

	test('refuse more stream replicas than JetStream or the NATS nodes allow', async () => {
		expect(() => checkStreamReplicas(3, 3)).not.toThrow()
		expect(() => checkStreamReplicas(5, 5)).not.toThrow()
		expect(() => checkStreamReplicas(4, 3)).toThrow(/must not exceed the 3 NATS nodes/)
		for (const replicas of [0, 6, 2.5]) expect(() => checkStreamReplicas(replicas, 7)).toThrow(/natsStreamReplicas must be a whole number 1\.\.5/)
		await expect(deployForTest(testStackArgs((a) => void (a.bus.streamReplicas = 4)))).rejects.toThrow(/must not exceed/)
		// R1 is for development stacks only: elsewhere a node's loss would lose the streams' events.
		expect(() => checkStreamReplicas(1, 3)).toThrow(/fewer than 3 servers/)
		await expect(deployForTest(testStackArgs((a) => void (a.bus.streamReplicas = 1)))).rejects.toThrow(/fewer than 3 servers/)
		const single = await deployForTest(
			testStackArgs((a) => {
				a.development = true
				a.bus.streamReplicas = 1
			}),
		)
		const api = single.deployment.get('aws:ecs/service:Service', 'gavel-api')
		const env = JSON.parse(single.deployment.byRef(api.inputs.taskDefinition).inputs.containerDefinitions)[0].environment
		expect(env).toContainEqual({ name: 'NATS_STREAM_REPLICAS', value: '1' })
	})
})

describe('NATS JetStream', () => {
	const natsServices = () =>
		run.deployment.ofType('aws:ecs/service:Service').filter((s) => /^gavel-nats-\d$/.test(s.name))

	test('runs three single-task services, each its own node with JetStream and routes to all three', () => {
		const services = natsServices()
		expect(services.map((s) => s.name).sort()).toEqual(['gavel-nats-0', 'gavel-nats-1', 'gavel-nats-2'])
		const namespace = one('aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace')
		const expectedRoutes = [0, 1, 2].map((i) => `nats://nats-${i}.${namespace.inputs.name}:${NATS_ROUTE_PORT}`)
		const names = new Set<string>()
		for (const s of services) {
			expect(s.inputs.desiredCount).toBe(1)
			// Never two servers of one name, even during a deployment.
			expect(s.inputs.deploymentMinimumHealthyPercent).toBe(0)
			expect(s.inputs.deploymentMaximumPercent).toBe(100)
			const container = containerOf(s)
			expect(container.image).toMatch(/^nats[:@]/)
			const conf = envOf(s)[NATS_START_ENV.config] ?? ''
			expect(setting(block(conf, 'jetstream'), 'store_dir')).toBe(NATS_STORE_DIR)
			expect(container.mountPoints[0].containerPath).toBe(NATS_STORE_DIR)
			expect([setting(conf, 'port'), setting(conf, 'http_port')]).toEqual([NATS_CLIENT_PORT, NATS_MONITOR_PORT])
			const cluster = block(conf, 'cluster')
			expect(setting(cluster, 'listen')).toBe(`0.0.0.0:${NATS_ROUTE_PORT}`)
			expect(setting(cluster, 'routes')).toEqual(expectedRoutes)
			expect(setting(cluster, 'no_advertise')).toBe(true)
			names.add(setting(conf, 'server_name'))
			// Registered in Cloud Map under its own node name.
			const registry = run.deployment.byRef(s.inputs.serviceRegistries.registryArn)
			expect(registry.inputs.name).toBe(setting(conf, 'server_name'))
			expect(registry.inputs.dnsConfig.namespaceId).toBe(namespace.id)
		}
		expect(names).toEqual(new Set(['nats-0', 'nats-1', 'nats-2']))
	})

	test('want TLS of every client and on routes both ways; the password and the private key reach a node only as secrets', () => {
		const secretArn = (name: string) => run.deployment.get('aws:secretsmanager/secret:Secret', name).state.arn
		const password = run.deployment.get('random:index/randomPassword:RandomPassword', 'gavel-nats-password').state.result
		const serverKey = run.deployment.get('tls:index/privateKey:PrivateKey', 'gavel-nats-server').state.privateKeyPem
		for (const s of natsServices()) {
			const container = containerOf(s)
			const conf = envOf(s)[NATS_START_ENV.config] ?? ''
			// Clients: TLS with the node's certificate; routes: the same, and the peer's checked against the CA.
			const clientTls = block(conf, 'tls')
			expect(setting(clientTls, 'cert_file')).toMatch(/cert\.pem$/)
			expect(setting(clientTls, 'key_file')).toMatch(/key\.pem$/)
			const routeTls = block(block(conf, 'cluster'), 'tls')
			expect(setting(routeTls, 'verify')).toBe(true)
			expect(setting(routeTls, 'ca_file')).toMatch(/ca\.pem$/)
			// The login is appended by the start script, from the secret (the config file has none).
			expect(block(conf, 'authorization')).toBe('')
			expect(container.entryPoint).toEqual(['sh', '-c'])
			expect(container.command).toHaveLength(1)
			expect(container.command[0]).toContain(`password: "%s"`)
			expect(container.command[0]).toContain(`"$${NATS_START_ENV.password}"`)
			expect(secretsOf(s)).toEqual({ [NATS_START_ENV.password]: secretArn('gavel-nats-password'), [NATS_START_ENV.key]: secretArn('gavel-nats-tls-key') })
			expect(envOf(s)[NATS_START_ENV.user]).toBe(NATS_USER)
			// Never in the command or a plain variable.
			const visible = JSON.stringify([container.entryPoint, container.command, container.environment])
			expect(visible).not.toContain(password)
			expect(visible).not.toContain(serverKey.trim().split('\n')[1])
			expect(visible).not.toContain('PRIVATE KEY')
		}
		const versions = run.deployment.ofType('aws:secretsmanager/secretVersion:SecretVersion')
		const stored = (secret: string) => versions.find((v) => v.inputs.secretId === run.deployment.get('aws:secretsmanager/secret:Secret', secret).id)
		expect(stored('gavel-nats-password')?.inputs.secretString).toBe(password)
		expect(stored('gavel-nats-tls-key')?.inputs.secretString).toBe(serverKey)
		for (const secret of ['gavel-nats-password', 'gavel-nats-tls-key']) expect(stored(secret)?.secretInputs.has('secretString')).toBe(true)
		// Alphanumeric: the start script writes it into a quoted config string.
		expect(run.deployment.get('random:index/randomPassword:RandomPassword', 'gavel-nats-password').inputs).toMatchObject({ length: 48, special: false })
	})

	test("one certificate, signed by the stack's CA, names every node; it may also act as a client (routes)", () => {
		const namespace = one('aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace')
		const request = one('tls:index/certRequest:CertRequest')
		expect([...request.inputs.dnsNames].sort()).toEqual([0, 1, 2].map((i) => `nats-${i}.${namespace.inputs.name}`))
		expect(request.inputs.privateKeyPem).toBe(run.deployment.get('tls:index/privateKey:PrivateKey', 'gavel-nats-server').state.privateKeyPem)
		const ca = run.deployment.get('tls:index/selfSignedCert:SelfSignedCert', 'gavel-nats-ca')
		expect(ca.inputs).toMatchObject({ isCaCertificate: true })
		expect(ca.inputs.allowedUses).toContain('cert_signing')
		const cert = one('tls:index/locallySignedCert:LocallySignedCert')
		expect(cert.inputs).toMatchObject({ certRequestPem: request.state.certRequestPem, caCertPem: ca.state.certPem })
		expect(cert.inputs.allowedUses).toEqual(expect.arrayContaining(['server_auth', 'client_auth']))
		// Re-issued by a `pulumi up` well before it runs out.
		expect(cert.inputs.earlyRenewalHours).toBeGreaterThanOrEqual(30 * 24)
		expect(cert.inputs.earlyRenewalHours).toBeLessThan(cert.inputs.validityPeriodHours)
		for (const s of natsServices()) {
			expect(envOf(s)[NATS_START_ENV.cert]).toBe(cert.state.certPem)
			expect(envOf(s)[NATS_START_ENV.ca]).toBe(ca.state.certPem)
		}
	})

	test('refuses the plain nats image, which has no shell for the start script', async () => {
		await expect(deployForTest(testStackArgs((a) => void (a.bus.image = 'nats:2.12@sha256:' + 'ab'.repeat(32))))).rejects.toThrow(/must be an -alpine variant/)
		await expect(deployForTest(testStackArgs((a) => void (a.bus.image = `123456789012.dkr.ecr.us-east-1.amazonaws.com/nats:2.12`)))).rejects.toThrow(/-alpine/)
		const ok = await deployForTest(testStackArgs((a) => void (a.bus.image = `123456789012.dkr.ecr.us-east-1.amazonaws.com/nats:2.12-alpine`)))
		expect(ok.deployment.ofType('aws:ecs/service:Service').length).toBeGreaterThan(3)
	})

	test('puts each node in its own zone', () => {
		const subnets = natsServices().map((s) => s.inputs.networkConfiguration.subnets)
		for (const s of subnets) expect(s).toHaveLength(1)
		const zones = subnets.flat().map((id) => run.deployment.byRef(id).inputs.availabilityZone)
		expect(new Set(zones).size).toBe(3)
	})

	test('stores each node on an encrypted gp3 EBS volume ECS attaches to its task, not on a network file system', () => {
		expect(run.deployment.ofType('aws:efs/fileSystem:FileSystem')).toEqual([])
		for (const s of natsServices()) {
			const taskDef = run.deployment.byRef(s.inputs.taskDefinition)
			const [volume] = taskDef.inputs.volumes
			expect(volume).toEqual({ name: 'jetstream', configureAtLaunch: true })
			expect(volume.efsVolumeConfiguration).toBeUndefined()
			expect(s.inputs.volumeConfiguration.name).toBe(volume.name)
			expect(s.inputs.volumeConfiguration.managedEbsVolume).toMatchObject({ volumeType: 'gp3', encrypted: true })
			expect(run.deployment.byRef(s.inputs.volumeConfiguration.managedEbsVolume.roleArn).type).toBe('aws:iam/role:Role')
			expect(containerOf(s).mountPoints[0].sourceVolume).toBe(volume.name)
		}
	})

	test('rolls one node at a time: each node service waits for the previous one to be steady', async () => {
		const [first, ...rest] = natsServices().sort((a, b) => a.name.localeCompare(b.name))
		for (const s of [first, ...rest]) expect(s?.inputs.waitForSteadyState).toBe(true)
		// Answer node 0 and node 1 late: a node that did not wait for its predecessor would start meanwhile.
		const node = (i: number) => `aws:ecs/service:Service::gavel-nats-${i}`
		const slow = await deployForTest(testStackArgs(), { [node(0)]: 150, [node(1)]: 150 })
		const at = (event: string) => slow.deployment.timeline.indexOf(event)
		expect(at(`start:${node(1)}`)).toBeGreaterThan(at(`end:${node(0)}`))
		expect(at(`start:${node(2)}`)).toBeGreaterThan(at(`end:${node(1)}`))
	})

	test('health checks every node through an internal NLB, which no gavel task is pointed at', () => {
		const nlb = run.deployment.ofType('aws:lb/loadBalancer:LoadBalancer').find((lb) => lb.inputs.loadBalancerType === 'network')
		expect(nlb?.inputs.internal).toBe(true)
		expect(new Set(nlb?.inputs.subnets)).toEqual(new Set(privateSubnetIds()))
		expect(nlb?.inputs.securityGroups).toEqual([sgId('nlb')])
		const listener = run.deployment.ofType('aws:lb/listener:Listener').find((l) => l.inputs.loadBalancerArn === nlb?.state.arn)
		expect(listener?.inputs).toMatchObject({ port: NATS_CLIENT_PORT, protocol: 'TCP' })
		const tg = run.deployment.byRef(listener?.inputs.defaultActions[0].targetGroupArn)
		expect(tg.inputs).toMatchObject({ port: NATS_CLIENT_PORT, protocol: 'TCP', targetType: 'ip' })
		// Liveness only: bare /healthz fails while a restarted node catches up, and would restart-loop it.
		expect(tg.inputs.healthCheck).toMatchObject({ protocol: 'HTTP', port: '8222', path: '/healthz?js-enabled-only=true' })
		for (const s of natsServices())
			expect(s.inputs.loadBalancers).toEqual([{ targetGroupArn: tg.state.arn, containerName: 'nats', containerPort: NATS_CLIENT_PORT }])

		// Clients list the nodes themselves (see "gavel tasks"): the NLB is not on their path.
		for (const s of run.deployment.ofType('aws:ecs/service:Service').filter((x) => containerOf(x).name === 'gavel'))
			expect(JSON.stringify(containerOf(s).environment)).not.toContain(nlb?.state.dnsName)
	})
})
