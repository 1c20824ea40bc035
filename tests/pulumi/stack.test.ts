// The default stack, built against Pulumi mocks: every tier exists and is wired to the others.
import { beforeAll, describe, expect, test } from 'bun:test'
import { assertPulumiInstalled } from '../../pulumi/preflight'

assertPulumiInstalled()
const { deployForTest, resolve, APP_PORT, DEFAULT_ROLE_GROUPS, MOCK_ZONES, STACK_DEFAULTS, TEST_CERTIFICATE_ARN } = await import(
	'../../pulumi/testing'
)

type Run = Awaited<ReturnType<typeof deployForTest>>
let run: Run
beforeAll(async () => {
	run = await deployForTest()
})

const T = {
	vpc: 'aws:ec2/vpc:Vpc',
	subnet: 'aws:ec2/subnet:Subnet',
	routeTable: 'aws:ec2/routeTable:RouteTable',
	route: 'aws:ec2/route:Route',
	assoc: 'aws:ec2/routeTableAssociation:RouteTableAssociation',
	nat: 'aws:ec2/natGateway:NatGateway',
	igw: 'aws:ec2/internetGateway:InternetGateway',
	cluster: 'aws:ecs/cluster:Cluster',
	service: 'aws:ecs/service:Service',
	taskDef: 'aws:ecs/taskDefinition:TaskDefinition',
	lb: 'aws:lb/loadBalancer:LoadBalancer',
	tg: 'aws:lb/targetGroup:TargetGroup',
	listener: 'aws:lb/listener:Listener',
	logGroup: 'aws:cloudwatch/logGroup:LogGroup',
	scalingTarget: 'aws:appautoscaling/target:Target',
	scalingPolicy: 'aws:appautoscaling/policy:Policy',
} as const

const subnetsOfTier = (tier: 'public' | 'private') => run.deployment.ofType(T.subnet).filter((s) => s.inputs.tags.tier === tier)
const containerOf = (service: { inputs: Record<string, any> }) => {
	const taskDef = run.deployment.byRef(service.inputs.taskDefinition)
	// The main container first; gavel's tasks also carry the metrics sidecar.
	const containers = JSON.parse(taskDef.inputs.containerDefinitions)
	return { taskDef, container: containers[0], containers }
}
const envOf = (container: { environment?: { name: string; value: string }[] }) =>
	Object.fromEntries((container.environment ?? []).map((e) => [e.name, e.value]))

describe('network', () => {
	test('spans three zones with a public and a private subnet in each, all in the one VPC', () => {
		const [vpc, ...more] = run.deployment.ofType(T.vpc)
		expect(more).toHaveLength(0)
		expect(vpc?.inputs.cidrBlock).toBe(STACK_DEFAULTS.vpcCidr)
		expect(vpc?.inputs.enableDnsHostnames).toBe(true)
		for (const tier of ['public', 'private'] as const) {
			const subnets = subnetsOfTier(tier)
			expect(subnets).toHaveLength(STACK_DEFAULTS.azCount)
			expect(new Set(subnets.map((s) => s.inputs.availabilityZone))).toEqual(new Set(MOCK_ZONES.slice(0, STACK_DEFAULTS.azCount)))
			for (const s of subnets) {
				expect(s.inputs.vpcId).toBe(vpc?.id)
				expect(s.inputs.mapPublicIpOnLaunch).toBe(false)
			}
		}
		const cidrs = run.deployment.ofType(T.subnet).map((s) => s.inputs.cidrBlock)
		expect(new Set(cidrs).size).toBe(cidrs.length)
	})

	test('routes public subnets to the internet gateway and each private subnet to a NAT gateway in its zone', () => {
		const igw = run.deployment.ofType(T.igw)[0]
		const routes = run.deployment.ofType(T.route)
		const assocs = run.deployment.ofType(T.assoc)
		const tableOf = (subnetId: string) => {
			const assoc = assocs.find((a) => a.inputs.subnetId === subnetId)
			if (!assoc) throw new Error(`subnet ${subnetId} has no route table`)
			return assoc.inputs.routeTableId
		}
		const defaultRoute = (tableId: string) => {
			const route = routes.find((r) => r.inputs.routeTableId === tableId && r.inputs.destinationCidrBlock === '0.0.0.0/0')
			if (!route) throw new Error(`route table ${tableId} has no default route`)
			return route
		}
		for (const s of subnetsOfTier('public')) expect(defaultRoute(tableOf(s.id)).inputs.gatewayId).toBe(igw?.id)

		const nats = run.deployment.ofType(T.nat)
		expect(nats).toHaveLength(STACK_DEFAULTS.azCount)
		const publicSubnets = subnetsOfTier('public')
		for (const s of subnetsOfTier('private')) {
			const route = defaultRoute(tableOf(s.id))
			expect(route.inputs.gatewayId).toBeUndefined()
			const nat = run.deployment.byRef(route.inputs.natGatewayId)
			const natSubnet = publicSubnets.find((p) => p.id === nat.inputs.subnetId)
			expect(natSubnet?.inputs.availabilityZone).toBe(s.inputs.availabilityZone)
		}
	})
})

describe('ECS services', () => {
	test('runs one service per role group, each with its ROLES, in the one cluster', () => {
		const [cluster, ...more] = run.deployment.ofType(T.cluster)
		expect(more).toHaveLength(0)
		expect(cluster?.inputs.settings).toContainEqual({ name: 'containerInsights', value: 'enabled' })
		for (const group of DEFAULT_ROLE_GROUPS) {
			const service = run.deployment.get(T.service, `gavel-${group.name}`)
			expect(service.inputs.cluster).toBe(cluster?.state.arn)
			const { taskDef, container } = containerOf(service)
			expect(envOf(container).ROLES).toBe(group.roles.join(','))
			expect(taskDef.inputs.cpu).toBe(String(group.cpu))
			expect(taskDef.inputs.memory).toBe(String(group.memory))
			expect(container.image).toContain('/gavel:1.0.0')
		}
		const appServices = run.deployment.ofType(T.service).filter((s) => containerOf(s).container.name === 'gavel')
		expect(appServices.map((s) => envOf(containerOf(s).container).ROLES).sort()).toEqual(['api,live', 'archiver', 'closer'])
	})

	test('puts every task in private subnets without a public IP', () => {
		const privateIds = new Set(subnetsOfTier('private').map((s) => s.id))
		const services = run.deployment.ofType(T.service)
		expect(services.length).toBe(DEFAULT_ROLE_GROUPS.length + 3)
		for (const service of services) {
			const network = service.inputs.networkConfiguration
			expect(network.assignPublicIp).toBe(false)
			expect(network.subnets.length).toBeGreaterThan(0)
			for (const id of network.subnets) expect(privateIds.has(id)).toBe(true)
			expect(service.inputs.launchType).toBe('FARGATE')
			const { taskDef } = containerOf(service)
			expect(taskDef.inputs.networkMode).toBe('awsvpc')
			expect(taskDef.inputs.requiresCompatibilities).toEqual(['FARGATE'])
		}
	})

	test('sets the production environment the app reads', () => {
		const { container } = containerOf(run.deployment.get(T.service, 'gavel-api'))
		const env = envOf(container)
		expect(env).toMatchObject({ NODE_ENV: 'production', PORT: String(APP_PORT), HOST: '0.0.0.0', LOG_LEVEL: 'info' })
		// The data tiers' settings are checked in data.test.ts; here only that they are there.
		for (const key of ['NATS_URL', 'NATS_STREAM_REPLICAS', 'REDIS_CLUSTER_NODES', 'REDIS_TLS', 'REDIS_WAIT_REPLICAS'])
			expect(env[key]).toBeTruthy()
		expect(container.portMappings).toEqual([{ containerPort: APP_PORT, protocol: 'tcp', name: 'http' }])
		// Graceful shutdown (SHUTDOWN_TIMEOUT_MS) finishes before ECS kills the task.
		expect(container.stopTimeout * 1000).toBeGreaterThan(Number(env.SHUTDOWN_TIMEOUT_MS))
		expect(container.ulimits).toContainEqual({ name: 'nofile', softLimit: 65536, hardLimit: 65536 })
	})

	test('sends each group to its own log group, kept for the configured days', () => {
		const logGroups = run.deployment.ofType(T.logGroup)
		for (const lg of logGroups) expect(lg.inputs.retentionInDays).toBe(STACK_DEFAULTS.logRetentionDays)
		const used = new Set<string>()
		for (const service of run.deployment.ofType(T.service)) {
			for (const container of containerOf(service).containers) {
				expect(container.logConfiguration.logDriver).toBe('awslogs')
				const group = container.logConfiguration.options['awslogs-group']
				expect(logGroups.some((lg) => lg.state.name === group)).toBe(true)
				expect(container.logConfiguration.options['awslogs-region']).toBe('us-east-1')
				if (container.name === 'gavel') used.add(group)
			}
		}
		expect(used.size).toBe(DEFAULT_ROLE_GROUPS.length)
	})
})

describe('load balancer', () => {
	const alb = () => {
		const albs = run.deployment.ofType(T.lb).filter((lb) => lb.inputs.loadBalancerType === 'application')
		expect(albs).toHaveLength(1)
		return albs[0] as NonNullable<(typeof albs)[0]>
	}

	test('is internet-facing in the public subnets', () => {
		const lb = alb()
		expect(lb.inputs.internal).toBe(false)
		expect(new Set(lb.inputs.subnets)).toEqual(new Set(subnetsOfTier('public').map((s) => s.id)))
		expect(lb.inputs.idleTimeout).toBe(STACK_DEFAULTS.albIdleTimeoutSeconds)
	})

	test('forwards HTTPS to the api tasks, turns HTTP into a redirect, and keeps the metrics port off the balancer', () => {
		const tg = run.deployment.get(T.tg, 'gavel-api-tg')
		expect(tg.inputs).toMatchObject({ port: APP_PORT, protocol: 'HTTP', targetType: 'ip' })
		expect(run.deployment.byRef(tg.inputs.vpcId).type).toBe(T.vpc)

		const listeners = run.deployment.ofType(T.listener).filter((l) => l.inputs.loadBalancerArn === alb().state.arn)
		const byPort = Object.fromEntries(listeners.map((l) => [l.inputs.port, l.inputs]))
		expect(Object.keys(byPort).sort()).toEqual(['443', '80'])
		expect(byPort[443]).toMatchObject({ protocol: 'HTTPS', certificateArn: TEST_CERTIFICATE_ARN })
		expect(byPort[443]?.defaultActions).toEqual([{ type: 'forward', targetGroupArn: tg.state.arn }])
		expect(byPort[80]?.defaultActions[0].type).toBe('redirect')

		const api = run.deployment.get(T.service, 'gavel-api')
		expect(api.inputs.loadBalancers).toEqual([{ targetGroupArn: tg.state.arn, containerName: 'gavel', containerPort: APP_PORT }])
		for (const name of ['gavel-archiver', 'gavel-closer'])
			expect(run.deployment.get(T.service, name).inputs.loadBalancers ?? []).toHaveLength(0)
		// /metrics is served on METRICS_PORT, which no target group or port mapping exposes.
		const metricsPort = Number(envOf(containerOf(api).container).METRICS_PORT)
		expect(metricsPort).toBeGreaterThan(0)
		expect(metricsPort).not.toBe(APP_PORT)
		for (const group of run.deployment.ofType(T.tg)) expect(group.inputs.port).not.toBe(metricsPort)
		expect(containerOf(api).container.portMappings.map((m: { containerPort: number }) => m.containerPort)).toEqual([APP_PORT])
	})

	test('exports http and ws URLs on the ALB name', async () => {
		const dns = alb().state.dnsName
		expect(await resolve(run.stack.service.url)).toBe(`https://${dns}`)
		expect(await resolve(run.stack.service.wsUrl)).toBe(`wss://${dns}/live`)
		expect(await resolve(run.stack.cluster.name)).toBe(run.deployment.ofType(T.cluster)[0]?.state.name)
	})
})

describe('autoscaling', () => {
	test('tracks CPU and ALB requests per task on the api service between the configured bounds', () => {
		const [target, ...more] = run.deployment.ofType(T.scalingTarget)
		expect(more).toHaveLength(0)
		const cluster = run.deployment.ofType(T.cluster)[0]
		const api = run.deployment.get(T.service, 'gavel-api')
		expect(target?.inputs).toMatchObject({
			serviceNamespace: 'ecs',
			scalableDimension: 'ecs:service:DesiredCount',
			resourceId: `service/${cluster?.state.name}/${api.state.name}`,
			minCapacity: STACK_DEFAULTS.apiMinCount,
			maxCapacity: STACK_DEFAULTS.apiMaxCount,
		})

		const policies = run.deployment.ofType(T.scalingPolicy)
		for (const p of policies) {
			expect(p.inputs.policyType).toBe('TargetTrackingScaling')
			expect(p.inputs.resourceId).toBe(target?.inputs.resourceId)
		}
		// CPU, and open WebSockets per api task (gavel_ws_connections, shipped by the metrics sidecar).
		const cpu = policies.find(
			(p) => p.inputs.targetTrackingScalingPolicyConfiguration.predefinedMetricSpecification?.predefinedMetricType === 'ECSServiceAverageCPUUtilization',
		)
		expect(cpu?.inputs.targetTrackingScalingPolicyConfiguration.targetValue).toBe(STACK_DEFAULTS.apiCpuTarget)
		const ws = policies.find((p) => p.inputs.targetTrackingScalingPolicyConfiguration.customizedMetricSpecification)
		const metric = ws?.inputs.targetTrackingScalingPolicyConfiguration.customizedMetricSpecification
		expect(metric).toMatchObject({ metricName: 'gavel_ws_connections', statistic: 'Average' })
		expect(ws?.inputs.targetTrackingScalingPolicyConfiguration.targetValue).toBe(STACK_DEFAULTS.apiWsConnectionsTarget)
		expect(policies).toHaveLength(2)
		// The sidecar labels the api tasks' series with exactly the dimension the policy reads.
		const sidecar = containerOf(api).containers.find((c: { name: string }) => c.name === 'metrics')
		const config = JSON.parse(sidecar.environment.find((e: { name: string }) => e.name === 'AOT_CONFIG_CONTENT').value)
		const labels = config.receivers.prometheus.config.scrape_configs[0].static_configs[0].labels
		expect(metric.dimensions).toEqual([{ name: 'service', value: labels.service }])
		expect(config.exporters.awsemf.namespace).toBe(metric.namespace)
		expect(config.receivers.prometheus.config.scrape_configs[0].static_configs[0].targets).toEqual([
			`localhost:${envOf(containerOf(api).container).METRICS_PORT}`,
		])
	})
})
