// `bun run cluster up|down|status` (bench/cluster/): its arguments, its state file, what it
// prints and the paths that start nothing (a refused `up`, `down` and `status` of a state whose
// one process is a `sleep` this test owns). The full `up` starts real clusters: see
// tests/integration/local-clusters.test.ts and bench/README.md ("Local cluster").
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseClusterArgs, type ClusterArgs } from '../../bench/cluster/args.ts'
import { emptyState, isRunning, processesOf, readState, StateError, stateProblem, statePath, writeState, type ClusterState, type GavelRecord } from '../../bench/cluster/state.ts'
import { gavelEnv, INSTANCES } from '../../bench/cluster/gavel-instances.ts'
import { newSecret, summary } from '../../bench/cluster/up.ts'

const MAIN = new URL('../../bench/cluster/main.ts', import.meta.url).pathname

let dir = ''
beforeEach(async () => {
	dir = await mkdtemp(join(tmpdir(), 'gavel-cluster-cli-'))
})
afterEach(async () => {
	await rm(dir, { recursive: true, force: true })
})

const args = (argv: string[]): ClusterArgs => {
	const parsed = parseClusterArgs(argv)
	if (parsed.kind !== 'run') throw new Error(`expected a command, got ${JSON.stringify(parsed)}`)
	return parsed.args
}
const errorOf = (argv: string[]) => {
	const parsed = parseClusterArgs(argv)
	return parsed.kind === 'error' ? parsed.message : `not an error: ${JSON.stringify(parsed)}`
}

describe('arguments', () => {
	test('up with defaults: the state dir in the temp dir, gavel started, the default database', () => {
		expect(args(['up'])).toEqual({ command: 'up', dir: join(tmpdir(), 'gavel-cluster'), dirGiven: false, databaseUrl: null, databaseName: 'gavel_cluster', gavel: true, env: {} })
	})

	test('every option of up; --dir made absolute; --env keeps what follows the first =', () => {
		const a = args(['up', '--dir', 'rel/dir', '--no-gavel', '--env', 'LOG_LEVEL=debug', '--env', 'X_Y=a=b', '--database-name', 'gavel_two'])
		expect(a).toMatchObject({ dir: resolve('rel/dir'), dirGiven: true, gavel: false, databaseName: 'gavel_two', env: { LOG_LEVEL: 'debug', X_Y: 'a=b' } })
		expect(args(['up', '--database-url', 'postgres://u@h:5432/db']).databaseUrl).toBe('postgres://u@h:5432/db')
		expect(args(['down', '--dir', '/x']).command).toBe('down')
		expect(args(['status']).command).toBe('status')
		expect(parseClusterArgs(['--help'])).toEqual({ kind: 'help' })
	})

	test('what it refuses, each with a message naming it', () => {
		expect(errorOf([])).toContain('up, down or status')
		expect(errorOf(['up', 'down'])).toContain('one command at a time')
		expect(errorOf(['start'])).toContain('unknown command "start"')
		expect(errorOf(['up', '--bogus'])).toContain('bogus')
		expect(errorOf(['status', '--no-gavel'])).toBe('--no-gavel: only for up')
		expect(errorOf(['down', '--env', 'A=1'])).toBe('--env: only for up')
		expect(errorOf(['up', '--env', 'lower=1'])).toContain('--env')
		expect(errorOf(['up', '--env', '=1'])).toContain('--env')
		expect(errorOf(['up', '--env', 'NOEQUALS'])).toContain('--env')
		expect(errorOf(['up', '--database-url', 'mysql://x/y'])).toContain('--database-url')
		expect(errorOf(['up', '--database-name', 'x; drop database test'])).toContain('--database-name')
		expect(errorOf(['up', '--database-name', 'Upper'])).toContain('--database-name')
		expect(errorOf(['up', '--database-url', 'postgres://h/db', '--database-name', 'x'])).toContain('one or the other')
		expect(errorOf(['up', '--dir', ' '])).toContain('--dir')
	})
})

const gavelRecord = (pid: number, command: string, name = 'api-1'): GavelRecord => ({
	kind: 'gavel',
	name,
	roles: 'api,live',
	pid,
	port: 1, // nothing listens there: /readyz is refused at once
	url: 'http://127.0.0.1:1',
	dataDir: join(dir, 'gavel', name),
	command,
	log: join(dir, 'gavel', name, 'gavel.log'),
})

describe('state file', () => {
	test('written and read back; none is null; what is not a state is named', () => {
		expect(readState(dir)).toBeNull()
		const state = emptyState(dir, join(dir, 'secret'), new Date(0))
		state.gavel.push(gavelRecord(123, 'src/cli/main.ts'))
		state.redis = { seeds: '127.0.0.1:7000', nodes: [{ kind: 'redis', name: 'redis-1', pid: 5, port: 7000, busPort: 17000, command: 'redis-server', log: 'l' }] }
		state.nats = { url: 'nats://127.0.0.1:4000', nodes: [{ kind: 'nats', name: 'nats-1', pid: 6, port: 4000, clusterPort: 6000, monitorPort: 8000, command: 'nats-server', log: 'l' }] }
		writeState(state)
		expect(readState(dir)).toEqual(state)
		expect(existsSync(`${statePath(dir)}.tmp`)).toBe(false)
		// Stopped gavel first: it drains into the servers.
		expect(processesOf(state).map((p) => p.name)).toEqual(['api-1', 'nats-1', 'redis-1'])

		writeFileSync(statePath(dir), '{ not json')
		expect(() => readState(dir)).toThrow(StateError)
		expect(stateProblem({ ...state, version: 2 })).toContain('version 2')
		expect(stateProblem({ ...state, gavel: [{ ...state.gavel[0], pid: -1 }] })).toContain('pid')
		expect(stateProblem({ ...state, redis: { seeds: '', nodes: [{ ...state.redis.nodes[0], kind: 'nats' }] } })).toContain('kind')
		expect(stateProblem({ ...state, gavel: [{ ...state.gavel[0], command: '' }] })).toContain('no command')
		expect(stateProblem(state)).toBeNull()
	})

	test('a process counts as running only while its pid is alive and still runs the recorded command', async () => {
		const sleeper = Bun.spawn(['sleep', '30'], { stdout: 'ignore', stderr: 'ignore' })
		try {
			expect(isRunning(gavelRecord(sleeper.pid, 'sleep'))).toBe(true)
			expect(isRunning(gavelRecord(sleeper.pid, 'redis-server'))).toBe(false)
		} finally {
			sleeper.kill('SIGKILL')
			await sleeper.exited
		}
		expect(isRunning(gavelRecord(sleeper.pid, 'sleep'))).toBe(false)
	})
})

describe('gavel instances', () => {
	test('two api,live instances, two archivers, two closers', () => {
		expect(INSTANCES.map((i) => i.roles)).toEqual(['api,live', 'api,live', 'archiver', 'archiver', 'closer', 'closer'])
	})

	test("an instance's environment: the clusters, its port and dir, nothing else inherited, --env last", () => {
		const previous = Bun.env.REDIS_URL
		Bun.env.REDIS_URL = 'redis://elsewhere:6379' // a setting in the caller's shell must not reach the instances
		try {
			const to = { redisSeeds: '127.0.0.1:1,127.0.0.1:2', natsUrl: 'nats://127.0.0.1:3,nats://127.0.0.1:4', databaseUrl: 'postgres://postgres@127.0.0.1:5432/gavel_cluster', secret: 's'.repeat(48) }
			const env = gavelEnv({ roles: 'archiver', port: 4100, dataDir: '/d' }, to, { LOG_LEVEL: 'debug' })
			expect(env).toMatchObject({
				ROLES: 'archiver',
				PORT: '4100',
				HOST: '127.0.0.1',
				DATA_DIR: '/d',
				REDIS_CLUSTER_NODES: to.redisSeeds,
				NATS_URL: to.natsUrl,
				NATS_STREAM_REPLICAS: '3',
				DATABASE_URL: to.databaseUrl,
				AUTH_JWT_SECRET: to.secret,
				LOG_LEVEL: 'debug',
			})
			expect(env.REDIS_URL).toBeUndefined()
		} finally {
			if (previous === undefined) delete Bun.env.REDIS_URL
			else Bun.env.REDIS_URL = previous
		}
	})

	test('the generated secret: 48 characters, long enough for AUTH_JWT_SECRET, new each time', () => {
		const secret = newSecret()
		expect(secret).toMatch(/^[A-Za-z0-9_-]{48}$/)
		expect(newSecret()).not.toBe(secret)
	})
})

describe('what up prints', () => {
	const upState = (): ClusterState => {
		const state = emptyState(dir, join(dir, 'auth-jwt-secret'))
		state.phase = 'up'
		state.redis = { seeds: '127.0.0.1:7001,127.0.0.1:7002', nodes: [] }
		state.nats = { url: 'nats://127.0.0.1:4001,nats://127.0.0.1:4002', nodes: [] }
		state.database = { url: 'postgres://postgres@127.0.0.1:5432/gavel_cluster', created: null }
		return state
	}

	test('the api URLs, the settings, and the CLI and bench aimed at both instances', () => {
		const state = upState()
		state.gavel = [
			{ ...gavelRecord(11, 'x', 'api-1'), url: 'http://127.0.0.1:5001' },
			{ ...gavelRecord(12, 'x', 'api-2'), url: 'http://127.0.0.1:5002' },
			{ ...gavelRecord(13, 'x', 'archiver-1'), roles: 'archiver' },
		]
		const text = summary(state, args(['up', '--dir', dir])).join('\n')
		expect(text.split('\n')).toContain('  gavel api      http://127.0.0.1:5001  http://127.0.0.1:5002')
		expect(text).toContain('archiver-1 on port 1 (pid 13)')
		expect(text).toContain('REDIS_CLUSTER_NODES=127.0.0.1:7001,127.0.0.1:7002')
		expect(text).toContain('NATS_URL=nats://127.0.0.1:4001,nats://127.0.0.1:4002')
		expect(text).toContain('DATABASE_URL=postgres://postgres@127.0.0.1:5432/gavel_cluster')
		expect(text).toContain('export GAVEL_URL=http://127.0.0.1:5001')
		expect(text).toContain(`GAVEL_TOKEN=$(AUTH_JWT_SECRET=$(cat ${dir}/auth-jwt-secret) bun run gavel token`)
		expect(text).toContain(`bun run bench bids --url http://127.0.0.1:5001,http://127.0.0.1:5002 --secret $(cat ${dir}/auth-jwt-secret)`)
		expect(text).toContain(`bun run cluster down --dir ${dir}`)
	})

	test('without gavel it says so; the default dir is not spelled out', () => {
		const text = summary(upState(), args(['up', '--no-gavel'])).join('\n')
		expect(text).toContain('--no-gavel')
		expect(text).not.toContain('bun run bench')
		expect(text.split('\n')).toContain('stop:   bun run cluster down')
		expect(text).not.toContain('--dir')
	})
})

async function cluster(...argv: string[]) {
	const proc = Bun.spawn(['bun', MAIN, ...argv], { stdout: 'pipe', stderr: 'pipe', env: { PATH: Bun.env.PATH ?? '', HOME: Bun.env.HOME ?? '/tmp' } })
	const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
	return { stdout, stderr, code }
}

describe('the command', () => {
	test('a bad command line: exit 2 with the usage', async () => {
		const r = await cluster('start')
		expect(r.code).toBe(2)
		expect(r.stderr).toContain('unknown command "start"')
		expect(r.stderr).toContain('bun run cluster up|down|status')
	})

	test('without a state: status exits 1, down has nothing to stop (exit 0)', async () => {
		const status = await cluster('status', '--dir', dir)
		expect(status.code).toBe(1)
		expect(status.stdout).toContain(`no cluster in ${dir}`)
		const down = await cluster('down', '--dir', dir)
		expect(down.code).toBe(0)
		expect(down.stdout).toContain('nothing to stop')
		expect(existsSync(dir)).toBe(true) // not a state dir: left alone
	})

	test('up refuses a dir that holds something else, and a broken state.json is named', async () => {
		writeFileSync(join(dir, 'notes.txt'), 'mine')
		const r = await cluster('up', '--dir', dir)
		expect(r.code).toBe(1)
		expect(r.stdout).toContain("is not a cluster's state dir")
		expect(existsSync(join(dir, 'notes.txt'))).toBe(true)

		writeFileSync(statePath(dir), '[]')
		const status = await cluster('status', '--dir', dir)
		expect(status.code).toBe(1)
		expect(status.stderr).toContain('is not a cluster state')
	})

	test('a running cluster: up refuses and says how to stop it; status reports it; down stops it by pid and removes the dir', async () => {
		const sleeper = Bun.spawn(['sleep', '60'], { stdout: 'ignore', stderr: 'ignore' })
		try {
			mkdirSync(join(dir, 'gavel'), { recursive: true })
			const state = emptyState(dir, join(dir, 'auth-jwt-secret'))
			state.phase = 'up'
			state.gavel.push(gavelRecord(sleeper.pid, 'sleep'), gavelRecord(999_999_999, 'sleep', 'api-2'))
			writeState(state)

			const refused = await cluster('up', '--dir', dir)
			expect(refused.code).toBe(1)
			expect(refused.stdout).toContain(`a cluster from ${dir} is running (1 of its 2 processes`)
			expect(refused.stdout).toContain(`bun run cluster down --dir ${dir}`)
			expect(sleeper.exitCode).toBeNull()

			const status = await cluster('status', '--dir', dir)
			expect(status.code).toBe(1)
			expect(status.stdout).toMatch(new RegExp(`api-1 +pid ${sleeper.pid} running .*starting`))
			expect(status.stdout).toMatch(/api-2 +pid 999999999 DOWN/)
			expect(status.stdout).toContain('something is down')

			const down = await cluster('down', '--dir', dir)
			expect(down.code).toBe(0)
			expect(down.stdout).toContain(`stopped gavel api-1 (pid ${sleeper.pid}, port 1)`)
			expect(down.stdout).toContain('gavel api-2 (pid 999999999) was not running')
			expect(down.stdout).toContain(`removed ${dir}`)
			expect(await sleeper.exited).not.toBe(0)
			expect(sleeper.signalCode).toBe('SIGTERM')
			expect(existsSync(dir)).toBe(false)

			const again = await cluster('down', '--dir', dir)
			expect(again.code).toBe(0)
			expect(again.stdout).toContain('nothing to stop')
		} finally {
			sleeper.kill('SIGKILL')
		}
	})
})
