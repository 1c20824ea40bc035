import type { Sql } from 'postgres'
import init from './migrations/001_init.sql' with { type: 'text' }

/** The migrations in order; the SQL is bundled as text so a compiled binary carries it. */
export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [{ version: 1, name: '001_init', sql: init }]

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
