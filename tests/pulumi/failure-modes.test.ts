// What breaks in production when a setting is wrong, checked on the deployed (mocked) default stack:
// each test names the failure it guards against (issue 16, item 10).
import { beforeAll, describe, expect, test } from 'bun:test'
import { timeoutProblems } from '../../src/ops/timeouts'
import { assertPulumiInstalled } from '../../pulumi/preflight'

assertPulumiInstalled()
const h = await import('../../pulumi/testing')
const { deployForTest, testStackArgs, isFargateSize, STACK_DEFAULTS } = h

type Run = Awaited<ReturnType<typeof deployForTest>>
type Recorded = Run['deployment']['resources'][number]
let run: Run
beforeAll(async () => {
	run = await deployForTest()
})

const containersOf = (r: Run, service: Recorded) => JSON.parse(r.deployment.byRef(service.inputs.taskDefinition).inputs.containerDefinitions)
const envOf = (container: { environment?: { name: string; value: string }[] }) =>
	Object.fromEntries((container.environment ?? []).map((e) => [e.name, e.value]))
const services = (r: Run) => r.deployment.ofType('aws:ecs/service:Service')
const gavel = (r: Run) => services(r).filter((s) => containersOf(r, s)[0].name === 'gavel')
const nats = (r: Run) => services(r).filter((s) => containersOf(r, s)[0].name === 'nats')
const alb = (r: Run) => r.deployment.ofType('aws:lb/loadBalancer:LoadBalancer').find((lb) => lb.inputs.loadBalancerType === 'application')

describe('timeouts', () => {
	test("the ALB, ECS and gavel's timeouts agree by the app's own rules (no cut watchers, no 502s, no SIGKILL mid-drain)", () => {
		const api = run.deployment.get('aws:ecs/service:Service', 'gavel-api')
		const [container] = containersOf(run, api)
		const env = envOf(container)
		const tg = run.deployment.get('aws:lb/targetGroup:TargetGroup', 'gavel-api-tg')
		const problems = timeoutProblems({
			albIdleTimeoutS: alb(run)?.inputs.idleTimeout,
			deregistrationDelayS: tg.inputs.deregistrationDelay,
			stopTimeoutS: container.stopTimeout,
			httpIdleTimeoutS: Number(env.HTTP_IDLE_TIMEOUT_S),
			liveIdleTimeoutS: Number(env.LIVE_IDLE_TIMEOUT_S),
			shutdownTimeoutMs: Number(env.SHUTDOWN_TIMEOUT_MS),
			drainSpreadMs: Number(env.LIVE_DRAIN_SPREAD_MS),
		})
		expect(problems).toEqual([])
	})

	test('a stack whose timeouts disagree is refused at preview', async () => {
		for (const change of [
			(a: h.Timeouts) => void (a.albIdleTimeoutS = 45),
			(a: h.Timeouts) => void (a.deregistrationDelayS = 300),
			(a: h.Timeouts) => void (a.stopTimeoutS = 5),
			(a: h.Timeouts) => void (a.httpIdleTimeoutS = 60),
		])
			await expect(deployForTest(testStackArgs((a) => change(a.service.timeouts)))).rejects.toThrow(/timeouts disagree/)
	})
})

describe('sizes and limits', () => {
	test('every task is a size Fargate runs (else RegisterTaskDefinition fails mid-deploy)', () => {
		const defs = run.deployment.ofType('aws:ecs/taskDefinition:TaskDefinition')
		expect(defs.length).toBeGreaterThan(3)
		for (const d of defs) expect({ family: d.inputs.family, ok: isFargateSize(Number(d.inputs.cpu), Number(d.inputs.memory)) }).toEqual({ family: d.inputs.family, ok: true })
	})

	test("NATS's Go heap is capped below its task's memory (else the kernel OOM-kills the node under load)", () => {
		for (const s of nats(run)) {
			const memoryMiB = Number(run.deployment.byRef(s.inputs.taskDefinition).inputs.memory)
			const limit = /^(\d+)MiB$/.exec(envOf(containersOf(run, s)[0]).GOMEMLIMIT ?? '')
			expect(limit).not.toBeNull()
			expect(Number(limit?.[1])).toBeLessThan(memoryMiB)
			expect(Number(limit?.[1])).toBeGreaterThan(memoryMiB / 2)
		}
	})

	test('scaling in waits at least five minutes (else each reconnect wave scales out and straight back in)', () => {
		const policies = run.deployment.ofType('aws:appautoscaling/policy:Policy')
		expect(policies.length).toBeGreaterThan(0)
		for (const p of policies) {
			const config = p.inputs.targetTrackingScalingPolicyConfiguration
			expect(config.scaleInCooldown).toBeGreaterThanOrEqual(300)
			expect(config.scaleOutCooldown).toBeLessThan(config.scaleInCooldown)
		}
	})
})

describe('images', () => {
	test('production stacks run pinned images only; no stack runs `latest`', async () => {
		for (const s of [...gavel(run), ...nats(run)])
			for (const c of containersOf(run, s)) expect(h.isPinnedImage(c.image)).toBe(true)
		await expect(deployForTest(testStackArgs((a) => void (a.bus.image = 'nats:latest')))).rejects.toThrow(/natsImage/)
		await expect(deployForTest(testStackArgs((a) => void (a.bus.image = STACK_DEFAULTS.natsImage)))).rejects.toThrow(/floating public tag/)
		const dev = (image: string) =>
			deployForTest(
				testStackArgs((a) => {
					a.development = true
					a.bus.image = image
				}),
			)
		await expect(dev('nats:latest')).rejects.toThrow(/floats/)
		// The program's default NATS image names a version: development stacks can run it.
		const ok = await dev(STACK_DEFAULTS.natsImage)
		expect(containersOf(ok, nats(ok)[0] as Recorded)[0].image).toBe(STACK_DEFAULTS.natsImage)
	})
})

describe('NATS survives a node or a zone', () => {
	test('streams keep three replicas (R1 loses events with one node)', () => {
		for (const s of gavel(run)) expect(Number(envOf(containersOf(run, s)[0]).NATS_STREAM_REPLICAS)).toBeGreaterThanOrEqual(3)
	})

	test('no two nodes share a zone (one zone lost would take the quorum)', async () => {
		const zones = nats(run).map((s) => run.deployment.byRef(s.inputs.networkConfiguration.subnets[0]).inputs.availabilityZone)
		expect(zones).toHaveLength(3)
		expect(new Set(zones).size).toBe(zones.length)
		await expect(deployForTest(testStackArgs((a) => void (a.network.azCount = 2)))).rejects.toThrow(/one node per zone/)
		await expect(
			deployForTest(testStackArgs((a) => void (a.network.availabilityZones = ['us-east-1a', 'us-east-1a', 'us-east-1b']))),
		).rejects.toThrow(/zone twice/)
	})
})

describe('NATS wants a login and TLS, and gavel has both', () => {
	const secretsOf = (container: { secrets?: { name: string; valueFrom: string }[] }) =>
		Object.fromEntries((container.secrets ?? []).map((e) => [e.name, e.valueFrom]))

	test("gavel logs in as the nodes' user with the password they read (else every publish is refused)", () => {
		const node = containersOf(run, nats(run)[0] as Recorded)[0]
		for (const s of gavel(run)) {
			const [container] = containersOf(run, s)
			expect(envOf(container).NATS_USER).toBe(envOf(node).NATS_USER)
			expect(secretsOf(container).NATS_PASSWORD).toBe(secretsOf(node).NATS_PASSWORD)
		}
		// And the nodes do want it: their start script appends the login to the config.
		expect(node.command[0]).toMatch(/authorization \{.*user: "%s".*password: "%s"/s)
	})

	test("gavel trusts the CA that signed the nodes' certificate, which names every server in NATS_URL (else the start stops on it)", () => {
		const cert = run.deployment.ofType('tls:index/locallySignedCert:LocallySignedCert')[0]
		const request = run.deployment.ofType('tls:index/certRequest:CertRequest')[0]
		for (const s of gavel(run)) {
			const env = envOf(containersOf(run, s)[0])
			expect(env.NATS_CA).toBe(cert?.inputs.caCertPem)
			const hosts = (env.NATS_URL ?? '').split(',').map((u) => new URL(u))
			for (const url of hosts) {
				expect(url.protocol).toBe('tls:')
				expect(request?.inputs.dnsNames).toContain(url.hostname)
			}
		}
		for (const s of nats(run)) expect(envOf(containersOf(run, s)[0]).NATS_TLS_CERT).toBe(cert?.state.certPem)
	})
})

describe('health checks ask liveness only (a dependency outage must not recycle tasks)', () => {
	test('the ALB, the container checks and the NATS NLB never ask for dependencies', () => {
		const tg = run.deployment.get('aws:lb/targetGroup:TargetGroup', 'gavel-api-tg')
		expect(tg.inputs.healthCheck.path).toBe('/healthz')
		for (const s of gavel(run)) expect(containersOf(run, s)[0].healthCheck.command).toContain('--live')
		const nlbTg = run.deployment.get('aws:lb/targetGroup:TargetGroup', 'gavel-nats-tg')
		expect(nlbTg.inputs.healthCheck.path).toMatch(/^\/healthz\?js-enabled-only=true$/)
	})

	test('a task waiting for its dependencies at start is not replaced before its wait ends', () => {
		const api = run.deployment.get('aws:ecs/service:Service', 'gavel-api')
		const wait = Number(envOf(containersOf(run, api)[0]).STARTUP_WAIT_S)
		expect(wait).toBeGreaterThan(0)
		expect(api.inputs.healthCheckGracePeriodSeconds).toBeGreaterThanOrEqual(wait)
	})
})

describe('TLS', () => {
	test('production stacks refuse plain HTTP; port 80 only redirects', async () => {
		const listeners = run.deployment.ofType('aws:lb/listener:Listener').filter((l) => l.inputs.loadBalancerArn === alb(run)?.state.arn)
		for (const l of listeners)
			if (l.inputs.protocol === 'HTTP') expect(l.inputs.defaultActions.map((a: { type: string }) => a.type)).toEqual(['redirect'])
		expect(listeners.some((l) => l.inputs.protocol === 'HTTPS')).toBe(true)
		await expect(deployForTest(testStackArgs((a) => void delete a.service.certificateArn))).rejects.toThrow(/certificateArn is required/)
	})
})

describe('alarms', () => {
	/** The `service` label the metrics sidecar of that ECS service puts on its series, and what it exports. */
	const sidecarOf = (serviceName: string) => {
		const sidecar = containersOf(run, run.deployment.get('aws:ecs/service:Service', serviceName)).find((c: { name: string }) => c.name === 'metrics')
		const config = JSON.parse(envOf(sidecar).AOT_CONFIG_CONTENT ?? '{}')
		return {
			label: config.receivers.prometheus.config.scrape_configs[0].static_configs[0].labels.service,
			exported: config.exporters.awsemf.metric_declarations[0].metric_name_selectors.join(' '),
		}
	}
	const alarms = () => run.deployment.ofType('aws:cloudwatch/metricAlarm:MetricAlarm')
	const topic = () => run.deployment.ofType('aws:sns/topic:Topic')[0]

	test('watch seq conflicts, dead letters, archive lag and unrepairable events of the archiver, notifying one topic', () => {
		const archive = alarms().filter((a) => a.inputs.metricName.startsWith('gavel_archive_'))
		const metrics = archive.map((a) => a.inputs.metricName)
		for (const m of ['gavel_archive_seq_conflicts_total', 'gavel_archive_dead_letters_total', 'gavel_archive_lag_seconds', 'gavel_archive_unrepairable_events_total'])
			expect(metrics).toContain(m)
		// The archiver's series carry this dimension (the sidecar's label); an alarm on another would never fire.
		const { label, exported } = sidecarOf('gavel-archiver')
		for (const a of archive) {
			expect(a.inputs.alarmActions).toEqual([topic()?.state.arn])
			expect(a.inputs.dimensions).toEqual({ service: label })
			expect(exported).toContain(a.inputs.metricName)
		}
	})

	test("watch store rebuilds (a Redis restarted empty or flushed) on the api tasks, which check the store's epoch every second", () => {
		const rebuilt = alarms().filter((a) => a.inputs.metricName === h.STORE_METRICS.rebuilds)
		expect(rebuilt).toHaveLength(1)
		const { label, exported } = sidecarOf('gavel-api')
		expect(rebuilt[0]?.inputs).toMatchObject({
			dimensions: { service: label },
			alarmActions: [topic()?.state.arn],
			statistic: 'Sum',
			comparisonOperator: 'GreaterThanThreshold',
			threshold: 0,
			// Counters report only while they move: no data is no rebuild.
			treatMissingData: 'notBreaching',
		})
		expect(exported).toContain(`^${h.STORE_METRICS.rebuilds}$`)
		expect(alarms().map((a) => a.inputs.metricName).sort()).toEqual(
			[...Object.values(h.ARCHIVE_METRICS), ...Object.values(h.STORE_METRICS)].sort(),
		)
	})
})
