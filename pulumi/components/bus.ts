import * as aws from '@pulumi/aws'
import * as pulumi from '@pulumi/pulumi'
import { NATS_CLIENT_PORT, NATS_MONITOR_PORT, NATS_ROUTE_PORT } from './firewall'
import { ecsTasksAssumeRolePolicy, writeLogsStatement } from './iam'

export interface BusArgs {
	vpcId: pulumi.Input<string>
	/** Private subnets, one per zone; node i is pinned to subnet i mod n so the nodes spread over zones. */
	subnetIds: pulumi.Input<string>[]
	clusterArn: pulumi.Input<string>
	natsSecurityGroupId: pulumi.Input<string>
	nlbSecurityGroupId: pulumi.Input<string>
	efsSecurityGroupId: pulumi.Input<string>
	/** The official NATS server image, e.g. `nats:2.12`. */
	image: string
	/** Fargate task size per node (vCPU units / MiB). */
	cpu: number
	memory: number
	/** JetStream servers; odd, for a Raft quorum. Left out: 3 (streams with 3 replicas survive one loss). */
	nodeCount?: number
	/** Replicas of gavel's streams (the tasks' NATS_STREAM_REPLICAS): 1..5 and at most nodeCount. Left out: 3. */
	streamReplicas?: number
	logRetentionDays: number
	tags?: Record<string, string>
}

const STORE_DIR = '/data'
/** JetStream's own ceiling for a stream's replicas. */
export const MAX_STREAM_REPLICAS = 5

/**
 * checkStreamReplicas refuses, at preview, a replica count JetStream would refuse when gavel
 * creates its stream: 1..5, and no more than the servers that would hold the copies.
 */
export function checkStreamReplicas(replicas: number, nodeCount: number): void {
	if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_STREAM_REPLICAS)
		throw new Error(`natsStreamReplicas must be a whole number 1..${MAX_STREAM_REPLICAS} (got ${replicas})`)
	if (replicas > nodeCount)
		throw new Error(`natsStreamReplicas (${replicas}) must not exceed the ${nodeCount} NATS nodes: each replica lives on its own server`)
}

/**
 * Bus is the EventBus: a NATS JetStream cluster of Fargate tasks, one ECS service per node so each
 * node keeps its own name, DNS record and storage. Each node stores JetStream on its own EFS access
 * point (encrypted at rest and in transit), finds its peers through Cloud Map names
 * (`nats-<i>.<namespace>`) on 6222, and serves clients on 4222 under the same names: the tasks'
 * NATS_URL lists every node, so a client reconnects to another node when one goes. Servers don't
 * advertise their task addresses (`--no_advertise`): those change with every task, the names don't.
 * An internal NLB health checks the nodes on `/healthz` (the image has no shell for a container
 * health check), so ECS replaces a node that stops answering; no client goes through it.
 */
export class Bus extends pulumi.ComponentResource {
	/** `nats://nats-0.<namespace>:4222,nats://nats-1.…`: every node, the tasks' NATS_URL. */
	public readonly url: pulumi.Output<string>
	/** The tasks' NATS_STREAM_REPLICAS. */
	public readonly streamReplicas: number
	public readonly nlbDnsName: pulumi.Output<string>
	public readonly serviceNames: pulumi.Output<string>[]
	public readonly fileSystemId: pulumi.Output<string>
	public readonly namespace: pulumi.Output<string>

	constructor(name: string, args: BusArgs, opts?: pulumi.ComponentResourceOptions) {
		super('gavel:infra:Bus', name, {}, opts)
		const nodeCount = args.nodeCount ?? 3
		if (!Number.isInteger(nodeCount) || nodeCount < 3 || nodeCount % 2 === 0)
			throw new Error(`NATS nodeCount must be odd and at least 3 (got ${nodeCount})`)
		const streamReplicas = args.streamReplicas ?? 3
		checkStreamReplicas(streamReplicas, nodeCount)
		if (args.subnetIds.length === 0) throw new Error('NATS needs at least one private subnet')
		const tags = args.tags ?? {}
		const parent = { parent: this }
		const nodes = Array.from({ length: nodeCount }, (_, i) => `nats-${i}`)

		// Storage: one encrypted file system, one access point (own directory, own uid) per node.
		const fs = new aws.efs.FileSystem(
			`${name}-nats-fs`,
			{
				encrypted: true,
				performanceMode: 'generalPurpose',
				throughputMode: 'elastic',
				tags: { ...tags, Name: `${name}-nats-jetstream` },
			},
			parent,
		)
		const mountTargets = args.subnetIds.map(
			(subnetId, i) =>
				new aws.efs.MountTarget(
					`${name}-nats-fs-${i}`,
					{ fileSystemId: fs.id, subnetId, securityGroups: [args.efsSecurityGroupId] },
					parent,
				),
		)
		const accessPoints = nodes.map(
			(node) =>
				new aws.efs.AccessPoint(
					`${name}-${node}`,
					{
						fileSystemId: fs.id,
						posixUser: { uid: 1000, gid: 1000 },
						rootDirectory: { path: `/${node}`, creationInfo: { ownerUid: 1000, ownerGid: 1000, permissions: '0750' } },
						tags: { ...tags, Name: `${name}-${node}` },
					},
					parent,
				),
		)

		// Roles: the execution role only writes logs (the image is public); the task role only mounts.
		const logGroup = new aws.cloudwatch.LogGroup(`${name}-nats`, { retentionInDays: args.logRetentionDays, tags }, parent)
		const executionRole = new aws.iam.Role(
			`${name}-nats-execution`,
			{ assumeRolePolicy: ecsTasksAssumeRolePolicy, description: 'NATS task execution: write its logs', tags },
			parent,
		)
		new aws.iam.RolePolicy(
			`${name}-nats-execution`,
			{
				role: executionRole.id,
				policy: pulumi.jsonStringify({
					Version: '2012-10-17',
					Statement: [writeLogsStatement([logGroup.arn])],
				}),
			},
			parent,
		)
		const taskRole = new aws.iam.Role(
			`${name}-nats-task`,
			{ assumeRolePolicy: ecsTasksAssumeRolePolicy, description: 'NATS task: mount its JetStream access point', tags },
			parent,
		)
		new aws.iam.RolePolicy(
			`${name}-nats-task`,
			{
				role: taskRole.id,
				policy: pulumi.jsonStringify({
					Version: '2012-10-17',
					Statement: [
						{
							Effect: 'Allow',
							Action: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
							Resource: fs.arn,
							Condition: { StringEquals: { 'elasticfilesystem:AccessPointArn': accessPoints.map((ap) => ap.arn) } },
						},
					],
				}),
			},
			parent,
		)
		new aws.efs.FileSystemPolicy(
			`${name}-nats-fs`,
			{
				fileSystemId: fs.id,
				policy: pulumi.jsonStringify({
					Version: '2012-10-17',
					Statement: [
						{
							Sid: 'NatsTasksOnly',
							Effect: 'Allow',
							Principal: { AWS: taskRole.arn },
							Action: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
							Resource: fs.arn,
						},
						{
							Sid: 'TlsOnly',
							Effect: 'Deny',
							Principal: { AWS: '*' },
							Action: '*',
							Resource: fs.arn,
							Condition: { Bool: { 'aws:SecureTransport': 'false' } },
						},
					],
				}),
			},
			parent,
		)

		// Discovery: nats-<i>.<namespace> A records, kept by ECS, used for the cluster routes.
		const namespace = new aws.servicediscovery.PrivateDnsNamespace(
			`${name}-nats`,
			{ name: `${name}-nats.internal`, vpc: args.vpcId, description: 'NATS cluster routes', tags },
			parent,
		)
		const routes = nodes.map((node) => pulumi.interpolate`nats://${node}.${namespace.name}:${NATS_ROUTE_PORT}`)
		const clientUrls = nodes.map((node) => pulumi.interpolate`nats://${node}.${namespace.name}:${NATS_CLIENT_PORT}`)

		// Node health: an internal NLB checks each node's JetStream-aware /healthz on 8222; ECS replaces a node that fails it.
		const nlb = new aws.lb.LoadBalancer(
			`${name}-nats-nlb`,
			{
				loadBalancerType: 'network',
				internal: true,
				subnets: args.subnetIds,
				securityGroups: [args.nlbSecurityGroupId],
				enableCrossZoneLoadBalancing: true,
				tags,
			},
			parent,
		)
		const targetGroup = new aws.lb.TargetGroup(
			`${name}-nats-tg`,
			{
				vpcId: args.vpcId,
				port: NATS_CLIENT_PORT,
				protocol: 'TCP',
				targetType: 'ip',
				deregistrationDelay: 30,
				connectionTermination: true,
				healthCheck: {
					protocol: 'HTTP',
					port: String(NATS_MONITOR_PORT),
					path: '/healthz',
					interval: 10,
					healthyThreshold: 2,
					unhealthyThreshold: 2,
				},
				tags,
			},
			parent,
		)
		const listener = new aws.lb.Listener(
			`${name}-nats`,
			{
				loadBalancerArn: nlb.arn,
				port: NATS_CLIENT_PORT,
				protocol: 'TCP',
				defaultActions: [{ type: 'forward', targetGroupArn: targetGroup.arn }],
				tags,
			},
			parent,
		)

		const clusterName = `${name}-nats`
		const region = aws.getRegionOutput({}, parent).region
		const services = nodes.map((node, i) => {
			const registry = new aws.servicediscovery.Service(
				`${name}-${node}`,
				{
					name: node,
					dnsConfig: { namespaceId: namespace.id, dnsRecords: [{ type: 'A', ttl: 10 }], routingPolicy: 'MULTIVALUE' },
					forceDestroy: true,
					tags,
				},
				parent,
			)
			const accessPoint = accessPoints[i]
			if (!accessPoint) throw new Error(`no access point for ${node}`)
			const taskDefinition = new aws.ecs.TaskDefinition(
				`${name}-${node}`,
				{
					family: `${name}-${node}`,
					networkMode: 'awsvpc',
					requiresCompatibilities: ['FARGATE'],
					cpu: String(args.cpu),
					memory: String(args.memory),
					executionRoleArn: executionRole.arn,
					taskRoleArn: taskRole.arn,
					volumes: [
						{
							name: 'jetstream',
							efsVolumeConfiguration: {
								fileSystemId: fs.id,
								transitEncryption: 'ENABLED',
								authorizationConfig: { accessPointId: accessPoint.id, iam: 'ENABLED' },
							},
						},
					],
					containerDefinitions: pulumi.jsonStringify([
						{
							name: 'nats',
							image: args.image,
							essential: true,
							command: [
								'--name', node,
								'--port', String(NATS_CLIENT_PORT),
								'--http_port', String(NATS_MONITOR_PORT),
								'--jetstream',
								'--store_dir', STORE_DIR,
								'--cluster_name', clusterName,
								'--cluster', `nats://0.0.0.0:${NATS_ROUTE_PORT}`,
								'--routes', pulumi.all(routes).apply((r) => r.join(',')),
								'--no_advertise',
							],
							// Go's GC keeps the heap under the task's memory instead of being OOM-killed.
							environment: [{ name: 'GOMEMLIMIT', value: `${Math.floor(args.memory * 0.8)}MiB` }],
							portMappings: [NATS_CLIENT_PORT, NATS_ROUTE_PORT, NATS_MONITOR_PORT].map((port) => ({
								containerPort: port,
								protocol: 'tcp',
							})),
							mountPoints: [{ sourceVolume: 'jetstream', containerPath: STORE_DIR, readOnly: false }],
							ulimits: [{ name: 'nofile', softLimit: 65536, hardLimit: 65536 }],
							stopTimeout: 30,
							logConfiguration: {
								logDriver: 'awslogs',
								options: {
									'awslogs-group': logGroup.name,
									'awslogs-region': region,
									'awslogs-stream-prefix': node,
								},
							},
						},
					]),
					tags,
				},
				parent,
			)
			const subnetId = args.subnetIds[i % args.subnetIds.length]
			if (subnetId === undefined) throw new Error(`no subnet for ${node}`)
			return new aws.ecs.Service(
				`${name}-${node}`,
				{
					cluster: args.clusterArn,
					taskDefinition: taskDefinition.arn,
					launchType: 'FARGATE',
					platformVersion: 'LATEST',
					desiredCount: 1,
					// Never two tasks on one JetStream directory: stop the old node before starting the new.
					deploymentMinimumHealthyPercent: 0,
					deploymentMaximumPercent: 100,
					networkConfiguration: { subnets: [subnetId], securityGroups: [args.natsSecurityGroupId], assignPublicIp: false },
					loadBalancers: [{ targetGroupArn: targetGroup.arn, containerName: 'nats', containerPort: NATS_CLIENT_PORT }],
					serviceRegistries: { registryArn: registry.arn },
					healthCheckGracePeriodSeconds: 60,
					propagateTags: 'SERVICE',
					tags: { ...tags, node },
				},
				// The target group must belong to a load balancer, and the mount target must exist, before tasks start.
				{ parent: this, dependsOn: [listener, ...mountTargets] },
			)
		})

		this.url = pulumi.all(clientUrls).apply((urls) => urls.join(','))
		this.streamReplicas = streamReplicas
		this.nlbDnsName = nlb.dnsName
		this.serviceNames = services.map((s) => s.name)
		this.fileSystemId = fs.id
		this.namespace = namespace.name
		this.registerOutputs({ url: this.url, serviceNames: this.serviceNames, fileSystemId: this.fileSystemId })
	}
}
