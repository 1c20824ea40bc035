import * as aws from '@pulumi/aws'
import * as pulumi from '@pulumi/pulumi'
import * as random from '@pulumi/random'
import * as tls from '@pulumi/tls'
import { checkFargateSize } from './fargate'
import { NATS_CLIENT_PORT, NATS_MONITOR_PORT, NATS_ROUTE_PORT } from './firewall'
import { ecsTasksAssumeRolePolicy, writeLogsStatement } from './iam'
import { checkImage } from './images'
import { checkNatsImage, NATS_START_ENV, NATS_START_SCRIPT, NATS_STORE_DIR, NATS_USER, natsServerConfig } from './nats-server'

export interface BusArgs {
	vpcId: pulumi.Input<string>
	/** Private subnets, one per zone (distinct zones: Network refuses a zone listed twice); node i runs in subnet i. */
	subnetIds: pulumi.Input<string>[]
	clusterArn: pulumi.Input<string>
	natsSecurityGroupId: pulumi.Input<string>
	nlbSecurityGroupId: pulumi.Input<string>
	/** The official NATS server image's -alpine variant (its start script needs a shell), pinned by digest or mirrored into ECR outside development stacks. */
	image: string
	/** GiB of gp3 per node for JetStream. Left out: 20. */
	storageGb?: number
	/** Development stacks may run an unpinned image and R1 streams. */
	development?: boolean
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

/** The CA signs the nodes' certificates for ten years; a node's certificate lasts two. */
const CA_VALIDITY_HOURS = 10 * 365 * 24
const CERT_VALIDITY_HOURS = 2 * 365 * 24
/** In its last 60 days a `pulumi up` re-issues a node certificate (and the nodes roll onto it). */
const CERT_EARLY_RENEWAL_HOURS = 60 * 24
/**
 * The NLB's check: liveness only. Bare /healthz also asks whether every stream and consumer is
 * current, which a node catching up after a restart is not for minutes: it would be restart-looped.
 */
export const NATS_HEALTH_PATH = '/healthz?js-enabled-only=true'
/** Replicas a production stream needs: with R3, one node (or one zone) can go without losing a write. */
export const MIN_PRODUCTION_STREAM_REPLICAS = 3
/** JetStream's own ceiling for a stream's replicas. */
export const MAX_STREAM_REPLICAS = 5

/**
 * checkStreamReplicas refuses, at preview, a replica count JetStream would refuse when gavel
 * creates its stream: 1..5, and no more than the servers that would hold the copies.
 */
export function checkStreamReplicas(replicas: number, nodeCount: number, development = false): void {
	if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_STREAM_REPLICAS)
		throw new Error(`natsStreamReplicas must be a whole number 1..${MAX_STREAM_REPLICAS} (got ${replicas})`)
	if (replicas > nodeCount)
		throw new Error(`natsStreamReplicas (${replicas}) must not exceed the ${nodeCount} NATS nodes: each replica lives on its own server`)
	if (!development && replicas < MIN_PRODUCTION_STREAM_REPLICAS)
		throw new Error(
			`natsStreamReplicas (${replicas}) leaves the streams on fewer than ${MIN_PRODUCTION_STREAM_REPLICAS} servers: losing one node loses their events (only development stacks may)`,
		)
}

/**
 * Bus is the EventBus: a NATS JetStream cluster of Fargate tasks, one ECS service per node so each
 * node keeps its own name, DNS record and zone (node i in zone i: one zone lost is one node lost,
 * and the other two keep the Raft quorum). Each node stores JetStream on an encrypted gp3 EBS
 * volume ECS attaches to its task (block storage, as NATS asks; network file systems are not
 * supported by NATS). The volume lives as long as the task: a replaced node starts empty and
 * catches up from its peers, which is why streams have three replicas and why the nodes roll one
 * at a time, each update waiting until the previous node is steady. It finds its peers through Cloud Map names
 * (`nats-<i>.<namespace>`) on 6222, and serves clients on 4222 under the same names: the tasks'
 * NATS_URL lists every node, so a client reconnects to another node when one goes. Servers don't
 * advertise their task addresses (`no_advertise`): those change with every task, the names don't.
 * Clients must log in (one user, NATS_USER, and a generated password in Secrets Manager) and speak
 * TLS; routes are mutual TLS. The certificates come from a CA generated here (key in the Pulumi
 * state, encrypted), which gavel's tasks get as NATS_CA (components/nats-server.ts has how a node
 * starts with them). An internal NLB health checks the nodes on NATS_HEALTH_PATH, plain HTTP on the
 * monitoring port, so ECS replaces a node that stops answering; no client goes through it.
 */
export class Bus extends pulumi.ComponentResource {
	/** `tls://nats-0.<namespace>:4222,tls://nats-1.…`: every node, the tasks' NATS_URL. */
	public readonly url: pulumi.Output<string>
	/** The servers' user (NATS_USER) and the Secrets Manager ARN of its password (NATS_PASSWORD). */
	public readonly user = NATS_USER
	public readonly passwordSecretArn: pulumi.Output<string>
	/** The CA (PEM) that signed the nodes' certificates: the tasks' NATS_CA. Public, not a secret. */
	public readonly caCertPem: pulumi.Output<string>
	/** The tasks' NATS_STREAM_REPLICAS. */
	public readonly streamReplicas: number
	public readonly nlbDnsName: pulumi.Output<string>
	public readonly serviceNames: pulumi.Output<string>[]
	public readonly namespace: pulumi.Output<string>

	constructor(name: string, args: BusArgs, opts?: pulumi.ComponentResourceOptions) {
		super('gavel:infra:Bus', name, {}, opts)
		const nodeCount = args.nodeCount ?? 3
		if (!Number.isInteger(nodeCount) || nodeCount < 3 || nodeCount % 2 === 0)
			throw new Error(`NATS nodeCount must be odd and at least 3 (got ${nodeCount})`)
		const development = args.development ?? false
		const streamReplicas = args.streamReplicas ?? 3
		checkStreamReplicas(streamReplicas, nodeCount, development)
		// Two nodes in one zone: losing that zone loses the quorum, and with it every stream.
		if (args.subnetIds.length < nodeCount)
			throw new Error(`NATS runs one node per zone: ${nodeCount} nodes need ${nodeCount} zones, the network has ${args.subnetIds.length} (set azCount to 3)`)
		checkImage('natsImage', args.image, development)
		checkNatsImage(args.image)
		checkFargateSize('NATS', args.cpu, args.memory)
		const tags = args.tags ?? {}
		const parent = { parent: this }
		const nodes = Array.from({ length: nodeCount }, (_, i) => `nats-${i}`)

		// Roles: the execution role reads the two secrets and writes logs (its policy below); the infrastructure role lets ECS make and attach the volumes.
		const logGroup = new aws.cloudwatch.LogGroup(`${name}-nats`, { retentionInDays: args.logRetentionDays, tags }, parent)
		const executionRole = new aws.iam.Role(
			`${name}-nats-execution`,
			{ assumeRolePolicy: ecsTasksAssumeRolePolicy, description: 'NATS task execution: its two secrets, its logs', tags },
			parent,
		)
		const infrastructureRole = new aws.iam.Role(
			`${name}-nats-volumes`,
			{
				assumeRolePolicy: JSON.stringify({
					Version: '2012-10-17',
					Statement: [{ Effect: 'Allow', Principal: { Service: 'ecs.amazonaws.com' }, Action: 'sts:AssumeRole' }],
				}),
				description: 'ECS creates, attaches and deletes the NATS nodes\' EBS volumes',
				tags,
			},
			parent,
		)
		const volumePolicy = new aws.iam.RolePolicyAttachment(
			`${name}-nats-volumes`,
			{ role: infrastructureRole.name, policyArn: 'arn:aws:iam::aws:policy/service-role/AmazonECSInfrastructureRolePolicyForVolumes' },
			parent,
		)

		// Discovery: nats-<i>.<namespace> A records, kept by ECS, used for the cluster routes.
		const namespace = new aws.servicediscovery.PrivateDnsNamespace(
			`${name}-nats`,
			{ name: `${name}-nats.internal`, vpc: args.vpcId, description: 'NATS cluster routes', tags },
			parent,
		)
		const hostnames = nodes.map((node) => pulumi.interpolate`${node}.${namespace.name}`)
		const routes = hostnames.map((host) => pulumi.interpolate`nats://${host}:${NATS_ROUTE_PORT}`)
		// tls://: gavel then requires TLS of every server (it would refuse one offering none).
		const clientUrls = hostnames.map((host) => pulumi.interpolate`tls://${host}:${NATS_CLIENT_PORT}`)

		// The one user's password: alphanumeric, as the start script writes it into a quoted config string.
		const password = new random.RandomPassword(`${name}-nats-password`, { length: 48, special: false }, parent)
		const passwordSecret = new aws.secretsmanager.Secret(`${name}-nats-password`, { description: 'gavel NATS_PASSWORD (the NATS servers\' user)', tags }, parent)
		new aws.secretsmanager.SecretVersion(`${name}-nats-password`, { secretId: passwordSecret.id, secretString: pulumi.secret(password.result) }, parent)

		// TLS: a CA of this stack's own signs one certificate for every node's name (clients and
		// routes reach the nodes by those names; the NLB is never on a client's path).
		const ecdsa = { algorithm: 'ECDSA', ecdsaCurve: 'P256' }
		const caKey = new tls.PrivateKey(`${name}-nats-ca`, ecdsa, parent)
		const ca = new tls.SelfSignedCert(
			`${name}-nats-ca`,
			{
				privateKeyPem: caKey.privateKeyPem,
				isCaCertificate: true,
				subject: { commonName: `${name} NATS CA` },
				validityPeriodHours: CA_VALIDITY_HOURS,
				allowedUses: ['cert_signing', 'crl_signing', 'digital_signature'],
			},
			parent,
		)
		const serverKey = new tls.PrivateKey(`${name}-nats-server`, ecdsa, parent)
		const request = new tls.CertRequest(
			`${name}-nats-server`,
			{ privateKeyPem: serverKey.privateKeyPem, subject: { commonName: namespace.name }, dnsNames: hostnames },
			parent,
		)
		const serverCert = new tls.LocallySignedCert(
			`${name}-nats-server`,
			{
				certRequestPem: request.certRequestPem,
				caPrivateKeyPem: caKey.privateKeyPem,
				caCertPem: ca.certPem,
				validityPeriodHours: CERT_VALIDITY_HOURS,
				earlyRenewalHours: CERT_EARLY_RENEWAL_HOURS,
				// client_auth too: on a route each node presents it to its peer.
				allowedUses: ['digital_signature', 'key_encipherment', 'server_auth', 'client_auth'],
			},
			parent,
		)
		const keySecret = new aws.secretsmanager.Secret(`${name}-nats-tls-key`, { description: 'gavel NATS servers\' TLS private key', tags }, parent)
		new aws.secretsmanager.SecretVersion(`${name}-nats-tls-key`, { secretId: keySecret.id, secretString: pulumi.secret(serverKey.privateKeyPem) }, parent)
		// The execution role reads exactly these two secrets for the tasks, and writes their logs.
		const executionPolicy = new aws.iam.RolePolicy(
			`${name}-nats-execution`,
			{
				role: executionRole.id,
				policy: pulumi.jsonStringify({
					Version: '2012-10-17',
					Statement: [
						writeLogsStatement([logGroup.arn]),
						{ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: [passwordSecret.arn, keySecret.arn] },
					],
				}),
			},
			parent,
		)

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
					path: NATS_HEALTH_PATH,
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
		let previous: aws.ecs.Service | undefined
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
			const taskDefinition = new aws.ecs.TaskDefinition(
				`${name}-${node}`,
				{
					family: `${name}-${node}`,
					networkMode: 'awsvpc',
					requiresCompatibilities: ['FARGATE'],
					cpu: String(args.cpu),
					memory: String(args.memory),
					executionRoleArn: executionRole.arn,
					// The EBS volume is configured on the service, when ECS launches the task.
					volumes: [{ name: 'jetstream', configureAtLaunch: true }],
					containerDefinitions: pulumi.jsonStringify([
						{
							name: 'nats',
							image: args.image,
							essential: true,
							// The -alpine image's shell runs the start script (components/nats-server.ts).
							entryPoint: ['sh', '-c'],
							command: [NATS_START_SCRIPT],
							environment: [
								// Go's GC keeps the heap under the task's memory instead of being OOM-killed.
								{ name: 'GOMEMLIMIT', value: `${Math.floor(args.memory * 0.8)}MiB` },
								{ name: NATS_START_ENV.config, value: pulumi.all(routes).apply((r) => natsServerConfig({ node, clusterName, routes: r })) },
								{ name: NATS_START_ENV.user, value: NATS_USER },
								{ name: NATS_START_ENV.cert, value: serverCert.certPem },
								{ name: NATS_START_ENV.ca, value: ca.certPem },
							],
							secrets: [
								{ name: NATS_START_ENV.password, valueFrom: passwordSecret.arn },
								{ name: NATS_START_ENV.key, valueFrom: keySecret.arn },
							],
							portMappings: [NATS_CLIENT_PORT, NATS_ROUTE_PORT, NATS_MONITOR_PORT].map((port) => ({
								containerPort: port,
								protocol: 'tcp',
							})),
							mountPoints: [{ sourceVolume: 'jetstream', containerPath: NATS_STORE_DIR, readOnly: false }],
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
			const subnetId = args.subnetIds[i]
			if (subnetId === undefined) throw new Error(`no subnet for ${node}`)
			const service = new aws.ecs.Service(
				`${name}-${node}`,
				{
					cluster: args.clusterArn,
					taskDefinition: taskDefinition.arn,
					launchType: 'FARGATE',
					platformVersion: 'LATEST',
					desiredCount: 1,
					// Never two servers of one name in the cluster: stop the old node before starting the new.
					deploymentMinimumHealthyPercent: 0,
					deploymentMaximumPercent: 100,
					deploymentCircuitBreaker: { enable: true, rollback: true },
					// `pulumi up` waits for this node to be running and healthy before it touches the next.
					waitForSteadyState: true,
					volumeConfiguration: {
						name: 'jetstream',
						managedEbsVolume: {
							roleArn: infrastructureRole.arn,
							sizeInGb: args.storageGb ?? 20,
							volumeType: 'gp3',
							encrypted: true,
							fileSystemType: 'xfs',
							tagSpecifications: [{ resourceType: 'volume', propagateTags: 'SERVICE', tags: { ...tags, node } }],
						},
					},
					networkConfiguration: { subnets: [subnetId], securityGroups: [args.natsSecurityGroupId], assignPublicIp: false },
					loadBalancers: [{ targetGroupArn: targetGroup.arn, containerName: 'nats', containerPort: NATS_CLIENT_PORT }],
					serviceRegistries: { registryArn: registry.arn },
					healthCheckGracePeriodSeconds: 60,
					propagateTags: 'SERVICE',
					tags: { ...tags, node },
				},
				// The target group must belong to a load balancer before tasks start; each node waits for
				// the one before it, so an image or config change rolls one node at a time.
				// A task started before the role may read its secrets would fail to start.
				{ parent: this, dependsOn: [listener, volumePolicy, executionPolicy, ...(previous ? [previous] : [])] },
			)
			previous = service
			return service
		})

		this.url = pulumi.all(clientUrls).apply((urls) => urls.join(','))
		this.passwordSecretArn = passwordSecret.arn
		this.caCertPem = ca.certPem
		this.streamReplicas = streamReplicas
		this.nlbDnsName = nlb.dnsName
		this.serviceNames = services.map((s) => s.name)
		this.namespace = namespace.name
		this.registerOutputs({ url: this.url, serviceNames: this.serviceNames, passwordSecretArn: this.passwordSecretArn, caCertPem: this.caCertPem })
	}
}
