import * as aws from '@pulumi/aws'
import * as pulumi from '@pulumi/pulumi'
import { METRICS_PORT } from './firewall'

/**
 * How gavel's Prometheus metrics reach CloudWatch: an AWS Distro for OpenTelemetry collector
 * sidecar in every gavel task scrapes localhost:METRICS_PORT and writes the `gavel_*` series as
 * embedded metric format (EMF) to a log group, from which CloudWatch extracts metrics. Why a
 * sidecar and not EMF from gavel itself: /metrics is already gavel's one metrics surface (the same
 * one Prometheus scrapes outside AWS), it stays off the ALB (loopback inside the task), and the app
 * needs no AWS code. Counters arrive as deltas per scrape (awsemf converts cumulative sums).
 */
export const WS_CONNECTIONS_METRIC = 'gavel_ws_connections'
/** What the alarms read (src/observability/metrics.ts): the archiver's series… */
export const ARCHIVE_METRICS = {
	seqConflicts: 'gavel_archive_seq_conflicts_total',
	deadLetters: 'gavel_archive_dead_letters_total',
	lagSeconds: 'gavel_archive_lag_seconds',
	unrepairable: 'gavel_archive_unrepairable_events_total',
	up: 'gavel_archive_up',
} as const
/**
 * …and the store's: a rebuild from the archive (rebuilt or failed; EMF keeps only the `service`
 * dimension, so the results add up) means the store had lost its epoch and with it every
 * auction: a Redis restarted empty or flushed (src/archive/rebuild.ts).
 */
export const STORE_METRICS = {
	rebuilds: 'gavel_store_rebuilds_total',
} as const
const SCRAPE_INTERVAL_S = 15

/** collectorConfig is the collector's whole configuration (JSON is YAML), passed as AOT_CONFIG_CONTENT. */
export function collectorConfig(args: {
	namespace: string
	/** The `service` dimension of every series: `<cluster>/<group>`, what the scaling policy and alarms select. */
	service: pulumi.Input<string>
	logGroupName: pulumi.Input<string>
}): pulumi.Output<string> {
	return pulumi.jsonStringify({
		receivers: {
			prometheus: {
				config: {
					scrape_configs: [
						{
							job_name: 'gavel',
							scrape_interval: `${SCRAPE_INTERVAL_S}s`,
							static_configs: [{ targets: [`localhost:${METRICS_PORT}`], labels: { service: args.service } }],
						},
					],
				},
			},
		},
		exporters: {
			awsemf: {
				namespace: args.namespace,
				log_group_name: args.logGroupName,
				dimension_rollup_option: 'NoDimensionRollup',
				// Only what the scaling policy and the alarms read: every other series would be a billed custom metric.
				metric_declarations: [
					{ dimensions: [['service']], metric_name_selectors: [WS_CONNECTIONS_METRIC, ...Object.values(ARCHIVE_METRICS), ...Object.values(STORE_METRICS)].map((m) => `^${m}$`) },
				],
			},
		},
		service: { pipelines: { metrics: { receivers: ['prometheus'], exporters: ['awsemf'] } } },
	})
}

export interface AlarmsArgs {
	namespace: string
	/** The `service` dimension of the group that runs the archiver. */
	archiverService: pulumi.Input<string>
	/** The `service` dimension of the group that runs the api role: each of its tasks checks the store's epoch every second. */
	storeService: pulumi.Input<string>
	/** Seconds the oldest unarchived event may age before the lag alarm fires. Left out: 60. */
	archiveLagThresholdS?: number
	tags?: Record<string, string>
}

/**
 * Alarms on what the durable-state design counts (docs/design.md §6): a seq conflict in the
 * archive, a dead letter, archive lag, events that could not be repaired, an archiver that cannot
 * write, and a store rebuilt from the archive. They notify one SNS topic; subscribe to it (README "Deploy").
 */
export class Alarms extends pulumi.ComponentResource {
	public readonly topicArn: pulumi.Output<string>
	public readonly alarmNames: pulumi.Output<string>[]

	constructor(name: string, args: AlarmsArgs, opts?: pulumi.ComponentResourceOptions) {
		super('gavel:infra:Alarms', name, {}, opts)
		const tags = args.tags ?? {}
		const parent = { parent: this }
		const topic = new aws.sns.Topic(`${name}-alarms`, { tags }, parent)
		const alarm = (
			id: string,
			description: string,
			metricName: string,
			rule: Pick<aws.cloudwatch.MetricAlarmArgs, 'statistic' | 'comparisonOperator' | 'threshold' | 'evaluationPeriods' | 'period' | 'treatMissingData'>,
			service: pulumi.Input<string> = args.archiverService,
		) =>
			new aws.cloudwatch.MetricAlarm(
				`${name}-${id}`,
				{
					alarmDescription: description,
					namespace: args.namespace,
					metricName,
					dimensions: { service },
					alarmActions: [topic.arn],
					okActions: [topic.arn],
					tags,
					...rule,
				},
				parent,
			)
		const anyIn5Minutes = {
			statistic: 'Sum',
			comparisonOperator: 'GreaterThanThreshold',
			threshold: 0,
			period: 300,
			evaluationPeriods: 1,
			// No data is no conflict: counters only report while they move.
			treatMissingData: 'notBreaching',
		} as const
		const alarms = [
			alarm('archive-seq-conflicts', 'An event reached the archive with a seq another event already holds (docs/design.md §6)', ARCHIVE_METRICS.seqConflicts, anyIn5Minutes),
			alarm('archive-dead-letters', 'The archiver dead-lettered events it could not write', ARCHIVE_METRICS.deadLetters, anyIn5Minutes),
			alarm('archive-unrepairable', 'Events the archiver could not repair from the store', ARCHIVE_METRICS.unrepairable, anyIn5Minutes),
			alarm('archive-lag', 'The oldest unarchived event is older than the threshold', ARCHIVE_METRICS.lagSeconds, {
				statistic: 'Maximum',
				comparisonOperator: 'GreaterThanThreshold',
				threshold: args.archiveLagThresholdS ?? 60,
				period: 60,
				evaluationPeriods: 3,
				// A silent archiver is lagging too.
				treatMissingData: 'breaching',
			}),
			alarm('archive-down', 'The archiver cannot write to Postgres', ARCHIVE_METRICS.up, {
				statistic: 'Maximum',
				comparisonOperator: 'LessThanThreshold',
				threshold: 1,
				period: 60,
				evaluationPeriods: 5,
				treatMissingData: 'breaching',
			}),
			alarm(
				'store-rebuilt',
				'The store was rebuilt from the archive (or a rebuild failed): it had lost its epoch: Redis restarted empty or was flushed (auctions answered 503 until back). Expected once on a new stack, whose empty cache gets its first epoch',
				STORE_METRICS.rebuilds,
				anyIn5Minutes,
				args.storeService,
			),
		]
		this.topicArn = topic.arn
		this.alarmNames = alarms.map((a) => a.name)
		this.registerOutputs({ topicArn: this.topicArn })
	}
}
