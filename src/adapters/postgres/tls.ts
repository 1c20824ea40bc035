import { readFileSync } from 'node:fs'
import type { ConnectionOptions } from 'node:tls'

/**
 * postgresTls turns libpq's `sslmode=verify-full|verify-ca` and `sslrootcert=<path>` in a
 * DATABASE_URL into TLS options postgres.js honours. Left to itself postgres.js treats `require`
 * as "encrypt but trust anyone", ignores `sslrootcert` (a file path) and would pass it to the
 * server as a setting; here the server's certificate is checked against that CA bundle (e.g.
 * RDS's), with its host name too for verify-full. Other URLs are returned as they are.
 */
export function postgresTls(
	url: string,
	readCa: (path: string) => Buffer = (path) => readFileSync(path),
	/** DATABASE_CA_FILE: the CA bundle when the URL names none (`sslrootcert`). */
	caFile?: string,
): { url: string; ssl?: ConnectionOptions } {
	if (!URL.canParse(url)) return { url }
	const parsed = new URL(url)
	const mode = parsed.searchParams.get('sslmode')
	const rootCert = parsed.searchParams.get('sslrootcert')
	if (mode !== 'verify-full' && mode !== 'verify-ca') return { url }
	parsed.searchParams.delete('sslmode')
	if (rootCert !== 'system') parsed.searchParams.delete('sslrootcert')
	const ssl: ConnectionOptions = { rejectUnauthorized: true }
	// No sslrootcert nor DATABASE_CA_FILE (or `system`): the CAs Node trusts.
	const bundle = rootCert ?? caFile
	if (bundle && bundle !== 'system') ssl.ca = readCa(bundle)
	// verify-ca: the chain is checked, the host name is not.
	if (mode === 'verify-ca') ssl.checkServerIdentity = () => undefined
	return { url: parsed.toString(), ssl }
}
