// The Dockerfile, .dockerignore and compose.yaml, read as data. No Docker engine runs here; the
// compiled binary the image runs is exercised in tests/e2e/binary.test.ts.
import { describe, expect, test } from 'bun:test'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError, DEFAULT_PORT, loadConfig, ROLE_NAMES } from '../../src/config.ts'

const ROOT = join(import.meta.dir, '../..')
const read = (file: string) => Bun.file(join(ROOT, file)).text()

interface Instruction {
	keyword: string
	args: string
}

/** parseDockerfile: one instruction per logical line (backslash continuations joined), comments dropped. */
function parseDockerfile(text: string): Instruction[] {
	const lines = text.split('\n').filter((line) => !/^\s*#/.test(line))
	const joined = lines.join('\n').replace(/\\\n/g, ' ')
	return joined
		.split('\n')
		.map((line) => line.trim())
		.filter(Boolean)
		.map((line) => {
			const [keyword = '', ...rest] = line.split(/\s+/)
			return { keyword: keyword.toUpperCase(), args: rest.join(' ') }
		})
}

/** The stages of a multi-stage build: each FROM and the instructions up to the next one. */
function stagesOf(instructions: Instruction[]) {
	const stages: Array<{ from: string; instructions: Instruction[] }> = []
	for (const i of instructions) {
		if (i.keyword === 'FROM') stages.push({ from: i.args, instructions: [] })
		else stages.at(-1)?.instructions.push(i)
	}
	return stages
}

const SECRET_NAME = /SECRET|PASSWORD|TOKEN|PRIVATE|API_?KEY/i

describe('Dockerfile', async () => {
	const instructions = parseDockerfile(await read('Dockerfile'))
	const stages = stagesOf(instructions)
	const build = stages[0]!
	const runtime = stages.at(-1)!
	const all = (keyword: string, stage = runtime) => stage.instructions.filter((i) => i.keyword === keyword)
	const one = (keyword: string, stage = runtime) => {
		const found = all(keyword, stage)
		expect(found).toHaveLength(1)
		return found[0]!.args
	}
	const execForm = (args: string) => JSON.parse(args) as string[]

	test('builds in a Bun stage and runs in a separate, smaller one', () => {
		expect(stages.length).toBeGreaterThanOrEqual(2)
		expect(build.from).toMatch(/ AS build$/i)
		const buildSteps = all('RUN', build).map((i) => i.args)
		expect(buildSteps.some((s) => s.includes('bun install --frozen-lockfile'))).toBe(true)
		expect(buildSteps.some((s) => s.includes('bun run build'))).toBe(true)
		expect(all('COPY').some((i) => i.args.startsWith('--from=build ') && i.args.includes('/src/dist/gavel'))).toBe(true)
	})

	test('runs as a non-root user', () => {
		const user = one('USER')
		expect(user).not.toMatch(/^(root|0)(:|$)/)
		expect(Number(user.split(':')[0])).toBeGreaterThan(0)
	})

	test('checks its liveness with the binary itself, which is also the entrypoint (never readiness: an outage must not replace it)', () => {
		const entrypoint = execForm(one('ENTRYPOINT'))
		expect(execForm(one('CMD'))).toEqual(['serve'])
		const healthcheck = one('HEALTHCHECK')
		const command = execForm(healthcheck.slice(healthcheck.indexOf('CMD ') + 4))
		expect(command).toEqual([entrypoint[0]!, 'health', '--live'])
		expect(healthcheck).toMatch(/--interval=\d+s/)
		expect(healthcheck).toMatch(/--timeout=\d+s/)
	})

	test('listens on 3000 and keeps DATA_DIR on a volume; configuration comes from the environment', () => {
		expect(one('EXPOSE')).toBe(String(DEFAULT_PORT))
		const env = all('ENV').map((i) => i.args).join(' ')
		expect(env).toContain(`PORT=${DEFAULT_PORT}`)
		expect(env).toContain('DATA_DIR=/data')
		expect(execForm(one('VOLUME'))).toEqual(['/data'])
		expect(all('COPY').some((i) => i.args.includes('--chown=') && i.args.endsWith(' /data'))).toBe(true)
	})

	test('bakes in no secret: no ENV or ARG names one, and nothing sets the token variables', () => {
		for (const i of instructions.filter((i) => i.keyword === 'ENV' || i.keyword === 'ARG'))
			for (const assignment of i.args.split(/\s+/)) expect(assignment.split('=')[0]).not.toMatch(SECRET_NAME)
		const text = instructions.map((i) => i.args).join('\n')
		for (const variable of ['AUTH_JWT_SECRET', 'REDIS_URL', 'DATABASE_URL', 'NATS_URL']) expect(text).not.toContain(variable)
	})
})

describe('dependency patches', async () => {
	const patches = Object.values((JSON.parse(await read('package.json')) as { patchedDependencies?: Record<string, string> }).patchedDependencies ?? {})

	test("postgres.js carries gavel's fix (a write after its connection closed crashed the process)", async () => {
		expect(patches).toContain('patches/postgres@3.4.9.patch')
		for (const patch of patches) expect(existsSync(join(ROOT, patch))).toBe(true)
		// bun install applied it: what every process imports has the guard.
		expect(await Bun.file(join(ROOT, 'node_modules/postgres/src/connection.js')).text()).toContain("gavel's patch")
	})

	test("the image's install step has the patches: copied before it", () => {
		const build = stagesOf(parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')))[0]!.instructions
		const install = build.findIndex((i) => i.keyword === 'RUN' && i.args.includes('bun install'))
		const copy = build.findIndex((i) => i.keyword === 'COPY' && /(^|\s)patches\/?(\s|$)/.test(i.args))
		expect(copy).toBeGreaterThanOrEqual(0)
		expect(copy).toBeLessThan(install)
	})
})

describe('.dockerignore', async () => {
	const rules = (await read('.dockerignore'))
		.split('\n')
		.map((line) => line.trim())
		.filter((line) => line && !line.startsWith('#'))

	test('is an allowlist that lets in exactly what the build stage copies', () => {
		expect(rules[0]).toBe('*')
		const allowed = rules.filter((r) => r.startsWith('!')).map((r) => r.slice(1).replace(/\/$/, ''))
		expect(allowed).toEqual(expect.arrayContaining(['package.json', 'bun.lock', 'bunfig.toml', 'patches', 'tsconfig.json', 'src', 'scripts', 'workers']))
		for (const path of allowed.filter((p) => p !== 'workers')) expect(existsSync(join(ROOT, path))).toBe(true)
		// Allowed paths may not hold local secrets or installs: these come after the allowlist, so they win.
		const last = (pattern: string) => rules.lastIndexOf(pattern)
		expect(last('**/.env*')).toBeGreaterThan(Math.max(...allowed.map((p) => rules.findIndex((r) => r.startsWith(`!${p}`)))))
		expect(last('**/node_modules')).toBeGreaterThan(0)
	})
})

describe('compose.yaml', async () => {
	const compose = Bun.YAML.parse(await read('compose.yaml')) as {
		services: Record<string, Service>
		volumes?: Record<string, unknown>
	}
	interface Service {
		image?: string
		build?: string | { context: string }
		command?: string[]
		environment?: Record<string, string>
		ports?: string[]
		volumes?: string[]
		healthcheck?: { test: string[] }
		depends_on?: Record<string, { condition: string; required?: boolean }>
		profiles?: string[]
	}
	const services = compose.services
	const gavel = Object.entries(services).filter(([, s]) => s.build !== undefined)
	const infra = ['redis', 'nats', 'postgres'] as const
	/** Compose's `${NAME}`, `${NAME:-default}` and `${NAME-default}`, against `env`. */
	const interpolate = (value: string, env: Record<string, string>) =>
		value.replace(/\$\{(\w+)(?::?-([^}]*))?\}/g, (_, name: string, fallback?: string) => env[name] || fallback || '')

	test('runs Redis, NATS with JetStream and Postgres on their usual loopback ports, each health checked', () => {
		const published: Record<string, string> = { redis: '6379', nats: '4222', postgres: '5432' }
		for (const name of infra) {
			const service = services[name]!
			expect(service.healthcheck?.test.length).toBeGreaterThan(1)
			// The test suite's addresses, and never beyond this machine.
			expect(service.ports).toContain(`127.0.0.1:${published[name]}:${published[name]}`)
			for (const port of service.ports ?? []) expect(port).toStartWith('127.0.0.1:')
		}
		const nats = services.nats!
		expect(nats.command).toContain('-js')
		expect(nats.command?.[nats.command.indexOf('-sd') + 1]).toBe('/data')
		expect(nats.volumes?.some((v) => v.endsWith(':/data') && !v.startsWith('.') && !v.startsWith('/'))).toBe(true)
		expect(services.postgres!.volumes?.some((v) => v.endsWith(':/var/lib/postgresql/data'))).toBe(true)
		for (const volume of [...(nats.volumes ?? []), ...(services.postgres!.volumes ?? []), ...(services.redis!.volumes ?? [])])
			expect(Object.keys(compose.volumes ?? {})).toContain(volume.split(':')[0] ?? '')
	})

	test('runs two api,live instances on their own ports and one archiver,closer, from this Dockerfile', () => {
		const roles = Object.fromEntries(gavel.map(([name, s]) => [name, s.environment?.ROLES]))
		expect(roles).toEqual({ 'api-1': 'api,live', 'api-2': 'api,live', workers: 'archiver,closer' })
		const every = new Set(Object.values(roles).flatMap((r) => r?.split(',') ?? []))
		expect([...every].sort()).toEqual([...ROLE_NAMES].sort())
		const hostPorts = gavel.flatMap(([, s]) => s.ports ?? []).map((p) => p.split(':'))
		expect(hostPorts.map((p) => p.at(-1))).toEqual([String(DEFAULT_PORT), String(DEFAULT_PORT)])
		expect(new Set(hostPorts.map((p) => p.at(-2))).size).toBe(2)
		for (const [, service] of gavel) expect(service.build).toBe('.')
	})

	test('starts gavel only once Redis, NATS and Postgres are healthy', () => {
		for (const [, service] of gavel)
			for (const name of infra) expect(service.depends_on?.[name]).toEqual({ condition: 'service_healthy' })
	})

	test('gives gavel a valid production configuration once AUTH_JWT_SECRET is set, and none without it', () => {
		const secret = 'a-secret-from-the-operators-environment-0123456789'
		for (const [, service] of gavel) {
			const raw = service.environment ?? {}
			expect(raw.AUTH_JWT_SECRET).toMatch(/^\$\{AUTH_JWT_SECRET(:?-)?\}$/)
			const env = (extra: Record<string, string>) => Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, interpolate(String(v), extra)]))
			const config = loadConfig(env({ AUTH_JWT_SECRET: secret }))
			expect(config).toMatchObject({ production: true, AUTH_JWT_SECRET: secret, REDIS_URL: 'redis://redis:6379', NATS_URL: 'nats://nats:4222' })
			expect(config.DATABASE_URL).toStartWith('postgres://gavel:')
			expect(() => loadConfig(env({}))).toThrow(ConfigError)
		}
	})

	test('the cluster profile is production in miniature: three routed NATS servers, streams on three replicas, gavel waiting for them', () => {
		const nodes = ['nats-1', 'nats-2', 'nats-3']
		for (const name of nodes) {
			const node = services[name]!
			expect(node.profiles).toEqual(['cluster'])
			const argv = node.command ?? []
			const flag = (f: string) => argv[argv.indexOf(f) + 1]
			expect(argv).toContain('-js')
			expect(flag('-n')).toBe(name)
			expect(flag('--cluster_name')).toBe('gavel')
			// Routes to the two others, never to itself: quorum needs all three to find each other.
			expect((flag('--routes') ?? '').split(',').sort()).toEqual(nodes.filter((n) => n !== name).map((n) => `nats://${n}:6222`))
			// A store each (JetStream replicates between them), and a health check that lets a catching-up node be.
			expect(node.volumes).toEqual([`${name}-data:/data`])
			expect(Object.keys(compose.volumes ?? {})).toContain(`${name}-data`)
			expect(node.healthcheck?.test.join(' ')).toContain('/healthz?js-enabled-only=true')
		}
		const cluster = { NATS_URL: nodes.map((n) => `nats://${n}:4222`).join(','), NATS_STREAM_REPLICAS: '3', AUTH_JWT_SECRET: 's'.repeat(48) }
		for (const [, service] of gavel) {
			for (const name of nodes) expect(service.depends_on?.[name]).toEqual({ condition: 'service_healthy', required: false })
			const env = Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), cluster)]))
			expect(loadConfig(env)).toMatchObject({ NATS_URL: cluster.NATS_URL, NATS_STREAM_REPLICAS: 3, STARTUP_WAIT_S: 120 })
		}
	})

	test('runs no floating `latest` image: every image names its version', () => {
		for (const [name, service] of Object.entries(services)) {
			if (service.image === undefined) continue
			expect({ name, image: service.image }).toEqual({ name, image: expect.stringMatching(/:(?!latest\b)[\w.-]+(@sha256:[0-9a-f]{64})?$/) })
		}
	})

	test('holds no literal secret: every secret-like value comes from the environment', () => {
		for (const [, service] of Object.entries(services))
			for (const [key, value] of Object.entries(service.environment ?? {}))
				if (SECRET_NAME.test(key)) expect(String(value)).toMatch(/^\$\{\w+(:?-[^}]*)?\}$/)
	})
})

test('the image carries the RDS CA bundle where the AWS stack points DATABASE_CA_FILE', async () => {
	const stackPath = /export const RDS_CA_FILE = '([^']+)'/.exec(await read('pulumi/components/service.ts'))?.[1]
	expect(stackPath).toBeDefined()
	expect(await read('Dockerfile')).toMatch(new RegExp(`^ADD --chmod=644 https://truststore\\.pki\\.rds\\.amazonaws\\.com/global/global-bundle\\.pem ${stackPath!.replaceAll('.', '\\.')}$`, 'm'))
})
