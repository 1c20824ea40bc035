import { chmod, mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'

const DEV_SECRET_FILE = 'dev-jwt-secret'
const MIN_SECRET_LENGTH = 32

/** devSecretPath is where a development gavel keeps its HS256 secret: an absolute path, for messages. */
export function devSecretPath(dataDir: string): string {
	return resolve(join(dataDir, DEV_SECRET_FILE))
}

/**
 * readDevSecret returns the development secret a gavel created in `dataDir`, or null when there
 * is none (or it is unusable). It never creates one: `gavel token` signing with a secret of its
 * own would mint tokens the running server refuses.
 */
export async function readDevSecret(dataDir: string): Promise<string | null> {
	const file = Bun.file(devSecretPath(dataDir))
	if (!(await file.exists())) return null
	const secret = (await file.text()).trim()
	return secret.length >= MIN_SECRET_LENGTH ? secret : null
}

/**
 * loadOrCreateDevSecret is the server's side: the HS256 secret a development instance signs and
 * verifies with, generated into the data dir on first start so that `gavel token` and
 * `gavel serve` agree across restarts. Never used in production.
 */
export async function loadOrCreateDevSecret(dataDir: string): Promise<string> {
	const existing = await readDevSecret(dataDir)
	if (existing !== null) return existing
	await mkdir(dataDir, { recursive: true })
	const path = devSecretPath(dataDir)
	const secret = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
	await Bun.write(path, `${secret}\n`)
	await chmod(path, 0o600)
	return secret
}
