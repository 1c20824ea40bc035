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
/** The owner (RDS master user): migrations only, through DATABASE_MIGRATION_URL. */
const DB_USER = 'gavel'
/** gavel's own login: reads and writes the archive's tables, owns nothing (pulumi/README.md, "Database roles"). */
export const DB_APP_USER = 'gavel_app'
/** verify-full: TLS, and the server's certificate checked against DATABASE_CA_FILE and the host name. */
const SSL_MODE = 'verify-full'

/**
 * Database is the Archive: RDS Postgres, Multi-AZ, encrypted, not publicly accessible, in the
 * private subnets. Two composed URLs are stored in Secrets Manager and reach tasks only through the
 * task definition's `secrets`: DATABASE_URL for gavel's own role (`gavel_app`, created once with
 * the SQL in pulumi/README.md) and DATABASE_MIGRATION_URL for the owner, which only the archiver
 * (the role that migrates) gets. Both say `sslmode=verify-full`.
 *
 * Why not `manageMasterUserPassword`: RDS would rotate that password on its own schedule while
 * the composed DATABASE_URL kept the old one, and the archiver would fail at its next connect.
 */
export class Database extends pulumi.ComponentResource {
	public readonly address: pulumi.Output<string>
	public readonly port: pulumi.Output<number>
	public readonly instanceIdentifier: pulumi.Output<string>
	/** Secrets Manager secret holding `postgres://gavel_app:<password>@<host>:5432/gavel?sslmode=verify-full`. */
	public readonly urlSecretArn: pulumi.Output<string>
	/** Secrets Manager secret holding the owner's URL, for migrations. */
	public readonly migrationUrlSecretArn: pulumi.Output<string>
	/** Secrets Manager secret holding gavel_app's password alone, for the one-time CREATE ROLE. */
	public readonly appPasswordSecretArn: pulumi.Output<string>

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

		const appPassword = new random.RandomPassword(`${name}-db-app-password`, { length: 40, special: false }, parent).result
		const url = (user: string, pw: pulumi.Input<string>) =>
			pulumi.secret(
				pulumi.interpolate`postgres://${user}:${pulumi.output(pw).apply(encodeURIComponent)}@${db.address}:${db.port}/${DB_NAME}?sslmode=${SSL_MODE}`,
			)
		const secret = (id: string, description: string, value: pulumi.Input<string>) => {
			const s = new aws.secretsmanager.Secret(`${name}-${id}`, { description, tags }, parent)
			new aws.secretsmanager.SecretVersion(`${name}-${id}`, { secretId: s.id, secretString: pulumi.secret(value) }, parent)
			return s
		}
		const appUrl = secret('database-url', 'gavel DATABASE_URL (its own role, TLS verified)', url(DB_APP_USER, appPassword))
		const ownerUrl = secret('database-migration-url', 'gavel DATABASE_MIGRATION_URL (owner, migrations only)', url(DB_USER, password))
		const appPasswordSecret = secret('database-app-password', 'password of the gavel_app Postgres role', appPassword)

		this.address = db.address
		this.port = db.port
		this.instanceIdentifier = db.identifier
		this.urlSecretArn = appUrl.arn
		this.migrationUrlSecretArn = ownerUrl.arn
		this.appPasswordSecretArn = appPasswordSecret.arn
		this.registerOutputs({ address: this.address, port: this.port, urlSecretArn: this.urlSecretArn })
	}
}
