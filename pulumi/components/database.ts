import * as aws from '@pulumi/aws'
import * as pulumi from '@pulumi/pulumi'
import * as random from '@pulumi/random'
import { POSTGRES_PORT } from './firewall'

export interface DatabaseArgs {
	subnetIds: pulumi.Input<string>[]
	securityGroupId: pulumi.Input<string>
	/** e.g. `db.t4g.medium`, `db.r7g.large`. */
	instanceClass: string
	/** Major version, e.g. `17`; minor versions are upgraded automatically in the maintenance window. */
	engineVersion: string
	/** GiB to start with; storage autoscaling grows it up to `maxAllocatedStorage`. */
	allocatedStorage: number
	maxAllocatedStorage: number
	/** Standby in a second zone with synchronous replication; left out: true. */
	multiAz?: boolean
	/** Left out: true. Turn off only for throw-away stacks. */
	deletionProtection?: boolean
	/** Left out: 7 days of point-in-time recovery. */
	backupRetentionDays?: number
	/** Retention of the Postgres log group (`/aws/rds/instance/<id>/postgresql`). */
	logRetentionDays: number
	/** Left out: false, so `pulumi destroy` leaves a final snapshot. */
	skipFinalSnapshot?: boolean
	/**
	 * Master password. Left out: a 40-character alphanumeric RandomPassword is generated; it is
	 * kept (encrypted) in the Pulumi state and in the DATABASE_URL secret.
	 */
	password?: pulumi.Input<string>
	tags?: Record<string, string>
}

const DB_NAME = 'gavel'
const DB_USER = 'gavel'

/**
 * Database is the Archive: RDS Postgres, Multi-AZ, encrypted, not publicly accessible, in the
 * private subnets. The composed DATABASE_URL (password and `sslmode=require` included) is stored
 * in Secrets Manager and reaches tasks only through the task definition's `secrets`.
 *
 * Why not `manageMasterUserPassword`: RDS would rotate that password on its own schedule while
 * the composed DATABASE_URL kept the old one, and the archiver would fail at its next connect.
 */
export class Database extends pulumi.ComponentResource {
	public readonly address: pulumi.Output<string>
	public readonly port: pulumi.Output<number>
	public readonly instanceIdentifier: pulumi.Output<string>
	/** Secrets Manager secret holding `postgres://gavel:<password>@<host>:5432/gavel?sslmode=require`. */
	public readonly urlSecretArn: pulumi.Output<string>

	constructor(name: string, args: DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
		super('gavel:infra:Database', name, {}, opts)
		const tags = args.tags ?? {}
		const parent = { parent: this }
		const password =
			args.password ?? new random.RandomPassword(`${name}-db-password`, { length: 40, special: false }, parent).result

		const subnets = new aws.rds.SubnetGroup(
			`${name}-db`,
			{ description: 'gavel Postgres, private subnets', subnetIds: args.subnetIds, tags },
			parent,
		)
		// An explicit identifier (stable random suffix: names are account-wide) lets the Postgres log
		// group exist, with its retention, before RDS would create it with none.
		const identifier = pulumi.interpolate`${name}-db-${new random.RandomId(`${name}-db-id`, { byteLength: 4 }, parent).hex}`
		const logGroup = new aws.cloudwatch.LogGroup(
			`${name}-db-postgresql`,
			{ name: pulumi.interpolate`/aws/rds/instance/${identifier}/postgresql`, retentionInDays: args.logRetentionDays, tags },
			parent,
		)
		const skipFinalSnapshot = args.skipFinalSnapshot ?? false
		const db = new aws.rds.Instance(
			`${name}-db`,
			{
				identifier,
				engine: 'postgres',
				engineVersion: args.engineVersion,
				instanceClass: args.instanceClass,
				allocatedStorage: args.allocatedStorage,
				maxAllocatedStorage: args.maxAllocatedStorage,
				storageType: 'gp3',
				storageEncrypted: true,
				multiAz: args.multiAz ?? true,
				publiclyAccessible: false,
				dbSubnetGroupName: subnets.name,
				vpcSecurityGroupIds: [args.securityGroupId],
				port: POSTGRES_PORT,
				dbName: DB_NAME,
				username: DB_USER,
				password,
				backupRetentionPeriod: args.backupRetentionDays ?? 7,
				deletionProtection: args.deletionProtection ?? true,
				skipFinalSnapshot,
				...(skipFinalSnapshot ? {} : { finalSnapshotIdentifier: pulumi.interpolate`${identifier}-final` }),
				copyTagsToSnapshot: true,
				autoMinorVersionUpgrade: true,
				allowMajorVersionUpgrade: false,
				enabledCloudwatchLogsExports: ['postgresql'],
				tags,
			},
			{ parent: this, dependsOn: [logGroup] },
		)

		const secret = new aws.secretsmanager.Secret(
			`${name}-database-url`,
			{ description: 'gavel DATABASE_URL (RDS Postgres, TLS required)', tags },
			parent,
		)
		new aws.secretsmanager.SecretVersion(
			`${name}-database-url`,
			{
				secretId: secret.id,
				secretString: pulumi.secret(
					pulumi.interpolate`postgres://${DB_USER}:${pulumi.output(password).apply(encodeURIComponent)}@${db.address}:${db.port}/${DB_NAME}?sslmode=require`,
				),
			},
			parent,
		)

		this.address = db.address
		this.port = db.port
		this.instanceIdentifier = db.identifier
		this.urlSecretArn = secret.arn
		this.registerOutputs({ address: this.address, port: this.port, urlSecretArn: this.urlSecretArn })
	}
}
