import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'

export const COMMANDS = ['up', 'down', 'status'] as const
export type ClusterCommand = (typeof COMMANDS)[number]

export const DEFAULT_DATABASE_NAME = 'gavel_cluster'
/** Where `up` creates its database when no --database-url names one. */
export const POSTGRES_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres'

export const defaultDir = () => join(tmpdir(), 'gavel-cluster')

export const USAGE = `bun run cluster up|down|status [--dir DIR]

  up       a Redis Cluster (3 primaries, 3 replicas), a 3-node NATS cluster with JetStream,
           a database of its own in the machine's Postgres, and gavel: two api,live instances,
           two archivers and two closers. Everything runs detached; state, logs and the
           AUTH_JWT_SECRET are in DIR. Prints the URLs and how to aim the CLI and the bench.
  down     stops everything in DIR's state.json by pid, drops the database, removes DIR
  status   each process, the clusters' health and gavel's /readyz; exit 1 if anything is down

options:
  --dir DIR              the state dir (default $TMPDIR/gavel-cluster)
  --database-url URL     up: gavel uses this database as it is (not created, not dropped)
  --database-name NAME   up: the database created in ${POSTGRES_ADMIN_URL.replace(/\/postgres$/, '')} (default ${DEFAULT_DATABASE_NAME})
  --no-gavel             up: the servers and the database only
  --env KEY=VALUE        up: a setting for every gavel instance (repeatable)
  -h, --help`

export interface ClusterArgs {
	command: ClusterCommand
	/** Absolute. */
	dir: string
	/** --dir was given: the commands printed for later name it. */
	dirGiven: boolean
	databaseUrl: string | null
	databaseName: string
	gavel: boolean
	env: Record<string, string>
}

export type Parsed = { kind: 'run'; args: ClusterArgs } | { kind: 'help' } | { kind: 'error'; message: string }

const UP_ONLY = ['database-url', 'database-name', 'no-gavel', 'env'] as const

/** Reads the command line; an error names what is wrong (the caller prints it with the usage, exit 2). */
export function parseClusterArgs(argv: string[]): Parsed {
	let parsed
	try {
		parsed = parseArgs({
			args: argv,
			allowPositionals: true,
			strict: true,
			options: {
				dir: { type: 'string' },
				'database-url': { type: 'string' },
				'database-name': { type: 'string' },
				'no-gavel': { type: 'boolean' },
				env: { type: 'string', multiple: true },
				help: { type: 'boolean', short: 'h' },
			},
		})
	} catch (err) {
		return { kind: 'error', message: (err as Error).message }
	}
	const { values, positionals } = parsed
	if (values.help) return { kind: 'help' }
	if (positionals.length !== 1) return { kind: 'error', message: positionals.length === 0 ? 'say up, down or status' : `one command at a time (got ${positionals.join(' ')})` }
	const command = positionals[0] as ClusterCommand
	if (!COMMANDS.includes(command)) return { kind: 'error', message: `unknown command ${JSON.stringify(positionals[0])}: up, down or status` }
	if (command !== 'up') {
		const misplaced = UP_ONLY.filter((name) => values[name] !== undefined)
		if (misplaced.length) return { kind: 'error', message: `${misplaced.map((n) => `--${n}`).join(', ')}: only for up` }
	}
	if (values.dir !== undefined && values.dir.trim() === '') return { kind: 'error', message: '--dir: empty' }
	const databaseUrl = values['database-url'] ?? null
	if (databaseUrl !== null && !/^postgres(ql)?:\/\/\S+$/.test(databaseUrl)) return { kind: 'error', message: `--database-url: a postgres:// URL (got ${JSON.stringify(databaseUrl)})` }
	const databaseName = values['database-name'] ?? DEFAULT_DATABASE_NAME
	// It goes into CREATE DATABASE and DROP DATABASE: a plain identifier only.
	if (!/^[a-z_][a-z0-9_]{0,62}$/.test(databaseName)) return { kind: 'error', message: `--database-name: lower-case letters, digits and _ (got ${JSON.stringify(databaseName)})` }
	if (databaseUrl !== null && values['database-name'] !== undefined) return { kind: 'error', message: '--database-url and --database-name: one or the other' }
	const env: Record<string, string> = {}
	for (const entry of values.env ?? []) {
		const eq = entry.indexOf('=')
		const key = entry.slice(0, eq)
		if (eq < 1 || !/^[A-Z_][A-Z0-9_]*$/.test(key)) return { kind: 'error', message: `--env: KEY=VALUE with an upper-case KEY (got ${JSON.stringify(entry)})` }
		env[key] = entry.slice(eq + 1)
	}
	return {
		kind: 'run',
		args: {
			command,
			dir: resolve(values.dir ?? defaultDir()),
			dirGiven: values.dir !== undefined,
			databaseUrl,
			databaseName,
			gavel: !values['no-gavel'],
			env,
		},
	}
}
