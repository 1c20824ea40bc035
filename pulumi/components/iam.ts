import * as pulumi from '@pulumi/pulumi'

/** Trust policy for ECS task and task-execution roles. */
export const ecsTasksAssumeRolePolicy = JSON.stringify({
	Version: '2012-10-17',
	Statement: [{ Effect: 'Allow', Principal: { Service: 'ecs-tasks.amazonaws.com' }, Action: 'sts:AssumeRole' }],
})

/** writeLogsStatement lets the awslogs driver write to exactly these log groups. */
export function writeLogsStatement(logGroupArns: pulumi.Input<string>[]) {
	return {
		Effect: 'Allow',
		Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
		Resource: logGroupArns.map((arn) => pulumi.interpolate`${arn}:log-stream:*`),
	}
}

/**
 * ecrRepositoryArn turns a private ECR image reference
 * (`<account>.dkr.ecr.<region>.amazonaws.com/<repo>[:tag|@digest]`) into its repository ARN, so the
 * execution role can pull from that one repository; any other registry gives undefined.
 */
export function ecrRepositoryArn(image: string): string | undefined {
	const match = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/([^:@]+)(?:[:@].*)?$/.exec(image)
	if (!match) return undefined
	const [, account, region, repository] = match
	const partition = region?.startsWith('cn-') ? 'aws-cn' : region?.startsWith('us-gov-') ? 'aws-us-gov' : 'aws'
	return `arn:${partition}:ecr:${region}:${account}:repository/${repository}`
}
