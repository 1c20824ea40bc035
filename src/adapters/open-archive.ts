import { join } from 'node:path'
import { createPostgresArchive } from './postgres/archive.ts'
import { createSqliteArchive } from './sqlite/archive.ts'

/** Where the archive lives: Postgres when DATABASE_URL is set, else a SQLite file in DATA_DIR. */
export interface ArchiveLocation {
	databaseUrl?: string
	/** Postgres: migrations as the owner (DATABASE_MIGRATION_URL), and the CA bundle for verify-full (DATABASE_CA_FILE). */
	migrationUrl?: string
	caFile?: string
	dataDir: string
}

export const SQLITE_ARCHIVE_FILE = 'archive.sqlite'

/**
 * openArchive picks the adapter by configuration alone (docs/design.md §1). Neither connects eagerly
 * to a server: a Postgres pool opens on first use, so an unreachable database shows up as a
 * failed write or read, which the caller retries, never as a failed start.
 */
export function openArchive(where: ArchiveLocation, { max }: { max?: number } = {}) {
	if (where.databaseUrl) return createPostgresArchive({ url: where.databaseUrl, migrationUrl: where.migrationUrl, caFile: where.caFile, max })
	return createSqliteArchive({ path: join(where.dataDir, SQLITE_ARCHIVE_FILE) })
}

export type OpenedArchive = ReturnType<typeof openArchive>
