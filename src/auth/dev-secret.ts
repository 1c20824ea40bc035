import { link, mkdir, open, rename, stat, unlink } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { ConfigError } from '../config.ts'

const DEV_SECRET_FILE = 'dev-jwt-secret'
const MIN_SECRET_LENGTH = 32

/** devSecretPath is where a development gavel keeps its HS256 secret: an absolute path, for messages. */
export function devSecretPath(dataDir: string): string {
	return resolve(join(dataDir, DEV_SECRET_FILE))
}

/**
 * readDevSecret returns the development secret a gavel created in `dataDir`, or null when there
 * is none (or it is too short to be one). It never creates one: `gavel token` signing with a
 * secret of its own would mint tokens the running server refuses.
 *
 * Whoever can write the file can mint any token the server accepts, so a file that another user
 * owns, or that its group or everyone may write, is refused (a ConfigError naming the fix), never
 * trusted.
 */
export async function readDevSecret(dataDir: string): Promise<string | null> {
	const path = devSecretPath(dataDir)
	const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
		if (err.code === 'ENOENT') return null
		throw err
	})
	if (info === null) return null
	const uid = process.getuid?.()
	if (uid !== undefined && info.uid !== uid)
		throw new ConfigError([`${path}: owned by uid ${info.uid}, not by this user (${uid}); delete it and start gavel again`])
	if ((info.mode & 0o022) !== 0)
		throw new ConfigError([
			`${path}: writable by its group or by everyone (mode ${(info.mode & 0o777).toString(8)}), so anyone could mint tokens; chmod 600 it, or delete it and start gavel again`,
		])
	const secret = (await Bun.file(path).text()).trim()
	return secret.length >= MIN_SECRET_LENGTH ? secret : null
}

/**
 * loadOrCreateDevSecret is the server's side: the HS256 secret a development instance signs and
 * verifies with, generated into the data dir on first start so that `gavel token` and
 * `gavel serve` agree across restarts. Never used in production.
 *
 * The file is born owner-only (created with mode 0600, never chmod-ed afterwards) and appears
 * whole: it is written under a temporary name and linked into place, so a reader never sees a
 * half-written secret, and of two gavels starting at once, one secret wins and both use it.
 */
export async function loadOrCreateDevSecret(dataDir: string): Promise<string> {
	const existing = await readDevSecret(dataDir)
	if (existing !== null) return existing
	await mkdir(dataDir, { recursive: true, mode: 0o700 })
	const path = devSecretPath(dataDir)
	const secret = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
	const temporary = `${path}.${process.pid}.${crypto.randomUUID()}.tmp`
	const file = await open(temporary, 'wx', 0o600)
	try {
		await file.writeFile(`${secret}\n`)
		await file.sync()
	} finally {
		await file.close()
	}
	try {
		await link(temporary, path)
	} catch (err) {
		if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
		// Another gavel got there first, or an unusable (short) file is in the way: keep a usable one.
		const winner = await readDevSecret(dataDir)
		if (winner !== null) {
			await unlink(temporary)
			return winner
		}
		await rename(temporary, path)
		return secret
	}
	await unlink(temporary)
	return secret
}
