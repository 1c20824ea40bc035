import type { Sql, TransactionSql } from 'postgres'
import init from './migrations/001_init.sql' with { type: 'text' }
import states from './migrations/002_states.sql' with { type: 'text' }

/** The migrations in order; the SQL is bundled as text so a compiled binary carries it. */
export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
	{ version: 1, name: '001_init', sql: init },
	{ version: 2, name: '002_states', sql: states },
]

/** Any constant works; it only has to be the same for every gavel process on the database. */
const MIGRATION_LOCK = 0x6761_7665_6c // 'gavel'

/**
 * migrate applies the migrations this database (or search_path schema) lacks, in one
 * transaction under an advisory lock: several processes starting at once apply each migration
 * exactly once, the others wait and then find it recorded in `gavel_migrations`.
 * Returns the versions it applied.
 */
export async function migrate(sql: Sql): Promise<number[]> {
	return sql.begin(async (tx) => {
		await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK})`
		await ensureSchema(tx)
		await tx`create table if not exists gavel_migrations (
			version integer primary key,
			name text not null,
			applied_at timestamptz not null default now()
		)`
		const done = new Set((await tx<{ version: number }[]>`select version from gavel_migrations`).map((r) => r.version))
		const applied: number[] = []
		for (const m of MIGRATIONS) {
			if (done.has(m.version)) continue
			await tx.unsafe(m.sql)
			await tx`insert into gavel_migrations (version, name) values (${m.version}, ${m.name})`
			applied.push(m.version)
		}
		return applied
	})
}

/**
 * ensureSchema creates the schema a `search_path` names when none of its schemas exists yet
 * (`?search_path=gavel` on a new database): the schema is gavel's own, and without it every
 * `create table` fails with "no schema has been selected". Lacking the right to create it is a
 * clear error naming the schema, not a loop.
 */
async function ensureSchema(tx: TransactionSql): Promise<void> {
	const [current] = await tx<{ schema: string | null }[]>`select current_schema() as schema`
	if (current?.schema) return
	const [setting] = await tx<{ search_path: string }[]>`select current_setting('search_path') as search_path`
	const first = firstSchemaOf(setting?.search_path ?? '')
	if (!first) throw new Error(`search_path ${JSON.stringify(setting?.search_path)} names no schema to keep gavel's tables in`)
	try {
		await tx`create schema if not exists ${tx(first)}`
	} catch (err) {
		throw new Error(`schema ${JSON.stringify(first)} (from search_path) does not exist and could not be created: ${(err as Error).message}`, { cause: err })
	}
}

/** The first schema a search_path names (`"$user"` is the role's own schema, which is skipped). */
export function firstSchemaOf(searchPath: string): string | null {
	for (const raw of searchPath.split(',')) {
		const name = raw.trim()
		if (!name || name === '"$user"' || name === '$user') continue
		return name.startsWith('"') && name.endsWith('"') ? name.slice(1, -1).replaceAll('""', '"') : name.toLowerCase()
	}
	return null
}
