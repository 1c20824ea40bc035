import * as aws from '@pulumi/aws'
import * as pulumi from '@pulumi/pulumi'

export const APP_PORT = 3000
export const REDIS_PORT = 6379
export const POSTGRES_PORT = 5432
export const NATS_CLIENT_PORT = 4222
export const NATS_ROUTE_PORT = 6222
export const NATS_MONITOR_PORT = 8222
/** gavel's /metrics (METRICS_PORT): scraped inside the task only, never opened in any security group. */
export const METRICS_PORT = 9464

export interface FirewallArgs {
	vpcId: pulumi.Input<string>
	/** Open 443 on the load balancer (HTTPS listener present); 80 is always open, for HTTP or the redirect. */
	https: boolean
	/** Who may reach the load balancer; left out: everyone (`0.0.0.0/0`). */
	publicIngressCidrs?: string[]
	tags?: Record<string, string>
}

type Group = 'alb' | 'web' | 'app' | 'nlb' | 'nats' | 'redis' | 'db'

/**
 * Firewall holds every security group and every rule, so the allowed flows read as one table:
 *
 *   internet ─80/443→ alb ─3000→ web (api tasks)
 *   app (all gavel tasks) ─6379→ redis · ─5432→ db · ─4222→ nats (each node, by name)
 *   nlb ─8222→ nats (health checks only: no client goes through the NLB)
 *   nats ─6222→ nats (JetStream on each task's own EBS volume: no storage traffic to allow)
 *   app, nats ─443→ anywhere (ECR, Secrets Manager, CloudWatch Logs, JWKS through NAT)
 *
 * Ingress names a security group, never a CIDR, except the load balancer's listener ports.
 * Groups are created without inline rules, so the provider removes AWS's default allow-all
 * egress and only the rules below exist.
 */
export class Firewall extends pulumi.ComponentResource {
	/** Internet-facing application load balancer. */
	public readonly albSecurityGroupId: pulumi.Output<string>
	/** Added to tasks behind the load balancer: lets the load balancer reach port 3000. */
	public readonly webSecurityGroupId: pulumi.Output<string>
	/** Every gavel task: the identity Redis, Postgres and NATS admit. */
	public readonly appSecurityGroupId: pulumi.Output<string>
	public readonly nlbSecurityGroupId: pulumi.Output<string>
	public readonly natsSecurityGroupId: pulumi.Output<string>
	public readonly redisSecurityGroupId: pulumi.Output<string>
	public readonly dbSecurityGroupId: pulumi.Output<string>

	constructor(name: string, args: FirewallArgs, opts?: pulumi.ComponentResourceOptions) {
		super('gavel:infra:Firewall', name, {}, opts)
		const tags = args.tags ?? {}
		const descriptions: Record<Group, string> = {
			alb: 'gavel public load balancer',
			web: 'gavel tasks behind the load balancer',
			app: 'gavel tasks (clients of Redis, Postgres, NATS)',
			nlb: 'gavel internal NATS load balancer',
			nats: 'NATS JetStream servers',
			redis: 'gavel ElastiCache Redis',
			db: 'gavel RDS Postgres',
		}
		const sg = {} as Record<Group, aws.ec2.SecurityGroup>
		for (const group of Object.keys(descriptions) as Group[]) {
			sg[group] = new aws.ec2.SecurityGroup(
				`${name}-${group}-sg`,
				{ vpcId: args.vpcId, description: descriptions[group], tags: { ...tags, Name: `${name}-${group}` } },
				{ parent: this },
			)
		}

		const allow = (from: Group, to: Group, port: number, why: string) => {
			// Both ends of the path: `to` lets `from` in, `from` may go out to `to`.
			const rule = { ipProtocol: 'tcp', fromPort: port, toPort: port, description: why, tags }
			new aws.vpc.SecurityGroupIngressRule(
				`${name}-${to}-from-${from}-${port}`,
				{ securityGroupId: sg[to].id, referencedSecurityGroupId: sg[from].id, ...rule },
				{ parent: this },
			)
			new aws.vpc.SecurityGroupEgressRule(
				`${name}-${from}-to-${to}-${port}`,
				{ securityGroupId: sg[from].id, referencedSecurityGroupId: sg[to].id, ...rule },
				{ parent: this },
			)
		}
		const egressHttps = (from: Group, why: string) =>
			new aws.vpc.SecurityGroupEgressRule(
				`${name}-${from}-to-https`,
				{ securityGroupId: sg[from].id, cidrIpv4: '0.0.0.0/0', ipProtocol: 'tcp', fromPort: 443, toPort: 443, description: why, tags },
				{ parent: this },
			)

		const publicPorts = args.https ? [80, 443] : [80]
		const cidrs = args.publicIngressCidrs ?? ['0.0.0.0/0']
		cidrs.forEach((cidr, i) => {
			for (const port of publicPorts) {
				new aws.vpc.SecurityGroupIngressRule(
					`${name}-alb-from-public-${port}-${i}`,
					{
						securityGroupId: sg.alb.id,
						...(cidr.includes(':') ? { cidrIpv6: cidr } : { cidrIpv4: cidr }),
						ipProtocol: 'tcp',
						fromPort: port,
						toPort: port,
						description: port === 443 ? 'HTTPS and WSS' : args.https ? 'HTTP, redirected to HTTPS' : 'HTTP and WS',
						tags,
					},
					{ parent: this },
				)
			}
		})

		allow('alb', 'web', APP_PORT, 'HTTP, WebSocket and /readyz health checks')
		allow('app', 'redis', REDIS_PORT, 'BidStore (TLS)')
		allow('app', 'db', POSTGRES_PORT, 'Archive (TLS)')
		allow('app', 'nats', NATS_CLIENT_PORT, 'EventBus clients, to every node')
		allow('nlb', 'nats', NATS_MONITOR_PORT, 'NLB health checks on /healthz')
		allow('nats', 'nats', NATS_ROUTE_PORT, 'NATS cluster routes')
		egressHttps('app', 'ECR, Secrets Manager, CloudWatch Logs, JWKS')
		egressHttps('nats', 'image pulls and CloudWatch Logs')

		this.albSecurityGroupId = sg.alb.id
		this.webSecurityGroupId = sg.web.id
		this.appSecurityGroupId = sg.app.id
		this.nlbSecurityGroupId = sg.nlb.id
		this.natsSecurityGroupId = sg.nats.id
		this.redisSecurityGroupId = sg.redis.id
		this.dbSecurityGroupId = sg.db.id
		this.registerOutputs({
			albSecurityGroupId: this.albSecurityGroupId,
			appSecurityGroupId: this.appSecurityGroupId,
			natsSecurityGroupId: this.natsSecurityGroupId,
		})
	}
}
