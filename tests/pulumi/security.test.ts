// Network exposure, secrets delivery and IAM, checked on the mocked default stack (and the HTTPS variant).
import { beforeAll, describe, expect, test } from 'bun:test'
import { assertPulumiInstalled } from '../../pulumi/preflight'

assertPulumiInstalled()
const h = await import('../../pulumi/testing')
const { deployForTest, testStackArgs, resolve } = h

type Run = Awaited<ReturnType<typeof deployForTest>>
type Recorded = Run['deployment']['resources'][number]
let run: Run
let https: Run
let plain: Run
const CERT = h.TEST_CERTIFICATE_ARN
beforeAll(async () => {
	run = await deployForTest()
	https = run
	// Only a development stack may run without a certificate.
	plain = await deployForTest(
		testStackArgs((a) => {
			a.development = true
			delete a.service.certificateArn
		}),
	)
})

const T = {
	sg: 'aws:ec2/securityGroup:SecurityGroup',
	ingress: 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule',
	egress: 'aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule',
	legacyRule: 'aws:ec2/securityGroupRule:SecurityGroupRule',
	service: 'aws:ecs/service:Service',
	secret: 'aws:secretsmanager/secret:Secret',
	secretVersion: 'aws:secretsmanager/secretVersion:SecretVersion',
	rolePolicy: 'aws:iam/rolePolicy:RolePolicy',
	listener: 'aws:lb/listener:Listener',
	lb: 'aws:lb/loadBalancer:LoadBalancer',
} as const
const WORLD = ['0.0.0.0/0', '::/0']

const sgNamed = (r: Run, group: string) => r.deployment.get(T.sg, `gavel-${group}-sg`)
const containerOf = (r: Run, service: Recorded) => {
	const [container] = JSON.parse(r.deployment.byRef(service.inputs.taskDefinition).inputs.containerDefinitions)
	return container
}
const appServices = (r: Run) => r.deployment.ofType(T.service).filter((s) => containerOf(r, s).name === 'gavel')
const natsServices = (r: Run) => r.deployment.ofType(T.service).filter((s) => containerOf(r, s).name === 'nats')

/** Every ingress permission in the stack, whatever resource type carries it. */
function ingressRules(r: Run): { sg: string; from: number; to: number; cidrs: string[]; source?: string; via: string }[] {
	const rules = r.deployment.ofType(T.ingress).map((rule) => ({
		sg: rule.inputs.securityGroupId,
		from: rule.inputs.fromPort,
		to: rule.inputs.toPort,
		cidrs: [rule.inputs.cidrIpv4, rule.inputs.cidrIpv6].filter((c): c is string => typeof c === 'string'),
		source: rule.inputs.referencedSecurityGroupId,
		via: rule.name,
	}))
	for (const group of r.deployment.ofType(T.sg))
		for (const inline of group.inputs.ingress ?? [])
			rules.push({
				sg: group.id,
				from: inline.fromPort,
				to: inline.toPort,
				cidrs: [...(inline.cidrBlocks ?? []), ...(inline.ipv6CidrBlocks ?? [])],
				source: inline.securityGroups?.[0],
				via: `${group.name} (inline)`,
			})
	for (const rule of r.deployment.ofType(T.legacyRule).filter((x) => x.inputs.type === 'ingress'))
		rules.push({
			sg: rule.inputs.securityGroupId,
			from: rule.inputs.fromPort,
			to: rule.inputs.toPort,
			cidrs: [...(rule.inputs.cidrBlocks ?? []), ...(rule.inputs.ipv6CidrBlocks ?? [])],
			source: rule.inputs.sourceSecurityGroupId,
			via: rule.name,
		})
	return rules
}

describe('security groups', () => {
	test('open nothing to the internet but the ALB listener ports', () => {
		for (const [r, ports] of [
			[plain, [80]],
			[https, [80, 443]],
		] as const) {
			const alb = sgNamed(r, 'alb').id
			const open = ingressRules(r).filter((rule) => rule.cidrs.some((c) => WORLD.includes(c)))
			for (const rule of open) {
				expect({ via: rule.via, sg: rule.sg }).toEqual({ via: rule.via, sg: alb })
				expect(rule.from).toBe(rule.to)
				expect(ports as readonly number[]).toContain(rule.from)
			}
			expect(open.map((rule) => rule.from).sort((a, b) => a - b)).toEqual([...ports])
		}
	})

	test('admit each data port only from the named security group', () => {
		const id = (group: string) => sgNamed(run, group).id
		const expected = [
			['web', 3000, 'alb'],
			['redis', 6379, 'app'],
			['db', 5432, 'app'],
			['nats', 4222, 'app'],
			['nats', 8222, 'nlb'],
			['nats', 6222, 'nats'],
		] as const
		const rules = ingressRules(run).filter((rule) => rule.sg !== id('alb'))
		const actual = rules.map((rule) => {
			expect(rule.cidrs).toEqual([])
			expect(rule.from).toBe(rule.to)
			const group = run.deployment.byRef(rule.source).name.replace(/^gavel-|-sg$/g, '')
			const target = run.deployment.byRef(rule.sg).name.replace(/^gavel-|-sg$/g, '')
			return [target, rule.from, group]
		})
		expect(actual.sort()).toEqual(expected.map((e) => [...e]).sort())
		// The app security group itself admits nothing.
		expect(rules.filter((rule) => rule.sg === id('app'))).toEqual([])
	})

	test('let egress reach the internet only on 443', () => {
		for (const rule of run.deployment.ofType(T.egress)) {
			if (rule.inputs.cidrIpv4 !== undefined || rule.inputs.cidrIpv6 !== undefined) {
				expect(rule.inputs.cidrIpv4).toBe('0.0.0.0/0')
				expect([rule.inputs.fromPort, rule.inputs.toPort]).toEqual([443, 443])
			} else {
				expect(rule.inputs.referencedSecurityGroupId).toMatch(/^sg-/)
			}
		}
		for (const group of run.deployment.ofType(T.sg)) expect(group.inputs.egress ?? []).toEqual([])
	})

	test('give tasks the groups the data tiers admit', () => {
		const id = (group: string) => sgNamed(run, group).id
		for (const s of appServices(run)) {
			const groups = s.inputs.networkConfiguration.securityGroups
			expect(groups).toContain(id('app'))
			expect(groups.includes(id('web'))).toBe(s.name === 'gavel-api')
		}
		for (const s of natsServices(run)) expect(s.inputs.networkConfiguration.securityGroups).toEqual([id('nats')])
	})
})

describe('secrets', () => {
	const SECRET_VARS = ['REDIS_PASSWORD', 'NATS_PASSWORD', 'DATABASE_URL', 'AUTH_JWT_SECRET', 'DATABASE_MIGRATION_URL']
	// The owner's URL goes to the archiver alone: it migrates (README "Database roles").
	const secretsFor = (service: Recorded) => SECRET_VARS.filter((v) => v !== 'DATABASE_MIGRATION_URL' || service.name === 'gavel-archiver')

	test('reach every gavel container through `secrets` from Secrets Manager, never `environment`', () => {
		const secretArns = new Set(run.deployment.ofType(T.secret).map((s) => s.state.arn))
		expect(appServices(run)).toHaveLength(3)
		for (const s of appServices(run)) {
			const container = containerOf(run, s)
			const secrets: { name: string; valueFrom: string }[] = container.secrets
			expect(secrets.map((x) => x.name).sort()).toEqual(secretsFor(s).sort())
			for (const x of secrets) expect(secretArns.has(x.valueFrom)).toBe(true)
			const env: { name: string; value: string }[] = container.environment
			for (const e of env) {
				expect(SECRET_VARS).not.toContain(e.name)
				// No credentials hidden in another variable either.
				expect(e.value).not.toMatch(/:\/\/[^/]*@|Pw[0-9a-f]{8}|test-jwt-secret|PRIVATE KEY/)
			}
		}
	})

	test('store the Redis token and composed, TLS-only connection URLs as Pulumi secrets', () => {
		const versions = run.deployment.ofType(T.secretVersion)
		const valueOf = (secretName: string) => {
			const secret = run.deployment.get(T.secret, secretName)
			const version = versions.find((v) => v.inputs.secretId === secret.id)
			if (!version) throw new Error(`${secretName} has no version`)
			expect(version.secretInputs.has('secretString')).toBe(true)
			return version.inputs.secretString as string
		}
		const redis = run.deployment.ofType('aws:elasticache/replicationGroup:ReplicationGroup')[0]
		expect(valueOf('gavel-redis-password')).toBe(redis?.inputs.authToken)
		// TLS is not in a URL any more: the tasks get REDIS_TLS=true beside the cluster's seed nodes.
		expect(redis?.inputs.transitEncryptionEnabled).toBe(true)
		expect(redis?.secretInputs.has('authToken')).toBe(true)
		const db = run.deployment.ofType('aws:rds/instance:Instance')[0]
		expect(valueOf('gavel-database-migration-url')).toBe(
			`postgres://gavel:${db?.inputs.password}@${db?.state.address}:5432/gavel?sslmode=verify-full`,
		)
		expect(valueOf('gavel-database-url')).toMatch(new RegExp(`^postgres://gavel_app:[A-Za-z0-9]+@${db?.state.address}:5432/gavel\\?sslmode=verify-full$`))
		expect(db?.secretInputs.has('password')).toBe(true)
		expect(valueOf('gavel-auth-jwt')).toBe('test-jwt-secret-that-is-at-least-32-chars')
	})
})

describe('IAM', () => {
	const policyOf = (r: Run, name: string) => JSON.parse(r.deployment.get(T.rolePolicy, name).inputs.policy)

	const resourcesFor = (policy: { Statement: { Action: string | string[]; Resource: string | string[] }[] }, action: string) =>
		policy.Statement.filter((s) => [s.Action].flat().includes(action)).flatMap((s) => [s.Resource].flat())

	test('lets the gavel execution role read exactly its five secrets, its log groups and its image repository', () => {
		const policy = policyOf(run, 'gavel-execution')
		const statements: { Action: string | string[]; Resource: string | string[] }[] = policy.Statement
		// Every secret but the app role's bare password (read once by an operator, never by a task)
		// and the NATS servers' private key (theirs alone).
		const secretArns = run.deployment
			.ofType(T.secret)
			.filter((s) => s.name !== 'gavel-database-app-password' && s.name !== 'gavel-nats-tls-key')
			.map((s) => s.state.arn)
		expect(secretArns).toHaveLength(5)
		expect(resourcesFor(policy, 'secretsmanager:GetSecretValue').sort()).toEqual(secretArns.sort())
		expect(resourcesFor(policy, 'ecr:BatchGetImage')).toEqual(['arn:aws:ecr:us-east-1:123456789012:repository/gavel'])
		const logArns = appServices(run).map((s) => {
			const group = containerOf(run, s).logConfiguration.options['awslogs-group']
			const lg = run.deployment.ofType('aws:cloudwatch/logGroup:LogGroup').find((x) => x.state.name === group)
			return `${lg?.state.arn}:log-stream:*`
		})
		expect(resourcesFor(policy, 'logs:PutLogEvents').sort()).toEqual(logArns.sort())
		for (const s of statements) expect([s.Action].flat().some((a) => a.endsWith('*'))).toBe(false)
		// Nothing else: the only managed policy in the stack is AWS's own for ECS-managed EBS volumes.
		expect(run.deployment.ofType('aws:iam/rolePolicyAttachment:RolePolicyAttachment').map((a) => a.inputs.policyArn)).toEqual([
			'arn:aws:iam::aws:policy/service-role/AmazonECSInfrastructureRolePolicyForVolumes',
		])
	})

	test('lets the NATS execution role read exactly the password and the TLS key, and write its logs', () => {
		const policy = policyOf(run, 'gavel-nats-execution')
		const arn = (name: string) => run.deployment.get(T.secret, name).state.arn
		expect(resourcesFor(policy, 'secretsmanager:GetSecretValue').sort()).toEqual([arn('gavel-nats-password'), arn('gavel-nats-tls-key')].sort())
		expect(policy.Statement.flatMap((s: { Action: string | string[] }) => [s.Action].flat()).sort()).toEqual(
			['logs:CreateLogStream', 'logs:PutLogEvents', 'secretsmanager:GetSecretValue'].sort(),
		)
	})

	test('starts a NATS node only once its role may read the secrets (else its first tasks fail to start)', async () => {
		const policy = 'aws:iam/rolePolicy:RolePolicy::gavel-nats-execution'
		const slow = await deployForTest(testStackArgs(), { [policy]: 150 })
		const at = (event: string) => slow.deployment.timeline.indexOf(event)
		expect(at(`end:${policy}`)).toBeGreaterThan(-1)
		expect(at('start:aws:ecs/service:Service::gavel-nats-0')).toBeGreaterThan(at(`end:${policy}`))
	})

	test('lets ECS, and nothing else, manage the NATS volumes', () => {
		const [attachment] = run.deployment.ofType('aws:iam/rolePolicyAttachment:RolePolicyAttachment')
		const role = run.deployment.ofType('aws:iam/role:Role').find((r) => r.state.name === attachment?.inputs.role)
		expect(JSON.parse(role?.inputs.assumeRolePolicy).Statement).toEqual([
			{ Effect: 'Allow', Principal: { Service: 'ecs.amazonaws.com' }, Action: 'sts:AssumeRole' },
		])
	})
})

describe('HTTPS', () => {
	test('adds a 443 listener with the certificate and turns HTTP into a redirect', async () => {
		const alb = https.deployment.ofType(T.lb).find((lb) => lb.inputs.loadBalancerType === 'application')
		const listeners = https.deployment.ofType(T.listener).filter((l) => l.inputs.loadBalancerArn === alb?.state.arn)
		const byPort = Object.fromEntries(listeners.map((l) => [l.inputs.port, l.inputs]))
		expect(Object.keys(byPort).sort()).toEqual(['443', '80'])
		expect(byPort[443]).toMatchObject({ protocol: 'HTTPS', certificateArn: CERT })
		expect(byPort[443]?.sslPolicy).toMatch(/^ELBSecurityPolicy-TLS13/)
		expect(byPort[443]?.defaultActions[0].type).toBe('forward')
		expect(byPort[80]?.defaultActions).toEqual([
			{ type: 'redirect', redirect: { protocol: 'HTTPS', port: '443', statusCode: 'HTTP_301' } },
		])
		expect(await resolve(https.stack.service.url)).toBe(`https://${alb?.state.dnsName}`)
		expect(await resolve(https.stack.service.wsUrl)).toBe(`wss://${alb?.state.dnsName}/live`)
	})
})
