import * as aws from '@pulumi/aws'
import * as pulumi from '@pulumi/pulumi'

export interface ClusterArgs {
	/**
	 * CloudWatch Container Insights (per-task CPU, memory, network metrics). Billed as custom
	 * metrics and log ingestion; left out: enabled.
	 */
	containerInsights?: boolean
	tags?: Record<string, string>
}

/** Cluster is the one ECS Fargate cluster that runs both gavel's role services and the NATS servers. */
export class Cluster extends pulumi.ComponentResource {
	public readonly arn: pulumi.Output<string>
	public readonly name: pulumi.Output<string>

	constructor(name: string, args: ClusterArgs, opts?: pulumi.ComponentResourceOptions) {
		super('gavel:infra:Cluster', name, {}, opts)
		const cluster = new aws.ecs.Cluster(
			`${name}-cluster`,
			{
				settings: [{ name: 'containerInsights', value: (args.containerInsights ?? true) ? 'enabled' : 'disabled' }],
				tags: args.tags ?? {},
			},
			{ parent: this },
		)
		this.arn = cluster.arn
		this.name = cluster.name
		this.registerOutputs({ arn: this.arn, name: this.name })
	}
}
