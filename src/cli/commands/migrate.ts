import { loadConfig } from '../../config.ts'
import { openArchive, SQLITE_ARCHIVE_FILE } from '../../adapters/open-archive.ts'
import { defineCommand } from '../spec.ts'

export const migrateCommand = defineCommand({
	name: 'migrate',
	summary: "apply the archive's migrations (serve with the archiver role also applies them)",
	description: 'Applies the SQL migrations bundled with gavel to DATABASE_URL, else to the SQLite file in DATA_DIR, once each.',
	options: [],
	env: [
		['DATABASE_URL', 'the Postgres archive'],
		['DATABASE_MIGRATION_URL', 'with DATABASE_URL: the migrations run as this role (the owner), if set'],
		['DATABASE_CA_FILE', 'the CA bundle a sslmode=verify-full URL is checked against'],
		['DATA_DIR', `without DATABASE_URL: the SQLite archive DATA_DIR/${SQLITE_ARCHIVE_FILE} (default ./data)`],
	],
	examples: (gavel) => [`DATABASE_URL=postgres://gavel@db:5432/gavel ${gavel} migrate`],
	async run() {
		const config = loadConfig()
		const archive = openArchive(
			{ databaseUrl: config.DATABASE_URL, migrationUrl: config.DATABASE_MIGRATION_URL, caFile: config.DATABASE_CA_FILE, dataDir: config.DATA_DIR },
			{ max: 1 },
		)
		const where = config.DATABASE_URL ? `postgres at ${new URL(config.DATABASE_URL).host}` : `${config.DATA_DIR}/${SQLITE_ARCHIVE_FILE}`
		try {
			const applied = await archive.migrate()
			console.log(applied.length > 0 ? `applied migrations ${applied.join(', ')} to ${where}` : `${where} is up to date`)
			return 0
		} catch (err) {
			console.error(`gavel: could not migrate ${where}: ${(err as Error).message}`)
			return 1
		} finally {
			await archive.close()
		}
	},
})
