import postgres from 'postgres'

/** The cluster's own database in the machine's Postgres: created by `up`, dropped by `down`. */

async function withAdmin<T>(adminUrl: string, use: (sql: postgres.Sql) => Promise<T>): Promise<T> {
	const sql = postgres(adminUrl, { max: 1, connect_timeout: 5, onnotice: () => {} })
	try {
		return await use(sql)
	} finally {
		await sql.end({ timeout: 5 })
	}
}

/** The URL of `name` on the server `adminUrl` points at. */
export function databaseUrlOf(adminUrl: string, name: string): string {
	const url = new URL(adminUrl)
	url.pathname = `/${name}`
	return url.toString()
}

/** Creates the database; one that exists already is an error (it may be another cluster's). */
export async function createDatabase(adminUrl: string, name: string): Promise<string> {
	return withAdmin(adminUrl, async (sql) => {
		const [exists] = await sql`select 1 from pg_database where datname = ${name}`
		if (exists)
			throw new Error(
				`database ${name} exists already in ${new URL(adminUrl).host}: another cluster's (its --dir), or one left behind. ` +
					`Take that cluster down, drop it (psql -h 127.0.0.1 -U postgres -c 'drop database ${name}'), or pass --database-name / --database-url`,
			)
		await sql.unsafe(`create database ${name}`)
		return databaseUrlOf(adminUrl, name)
	})
}

/** Drops the database, closing what is still connected to it; no error when it is gone already. */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
	await withAdmin(adminUrl, (sql) => sql.unsafe(`drop database if exists ${name} with (force)`))
}

/** null when the database answers `select 1`, else why not. */
export async function databaseProblem(url: string): Promise<string | null> {
	try {
		await withAdmin(url, (sql) => sql`select 1`)
		return null
	} catch (err) {
		return (err as Error).message
	}
}
