import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** PEM files of a test CA and of a server certificate it signed, and of a CA that signed nothing. */
export interface TestCertificates {
	caFile: string
	certFile: string
	keyFile: string
	/** A CA that did not sign the server's certificate: what a wrong NATS_CA_FILE looks like. */
	otherCaFile: string
}

/**
 * makeCertificates writes, with openssl, a CA and a server certificate for `names` (DNS names;
 * IP addresses go in as IP SANs) into `dir`, P-256 keys, valid for two days. The server
 * certificate may also act as a client (routes between NATS servers check each other with it).
 */
export async function makeCertificates(dir: string, names: string[] = ['localhost', '127.0.0.1']): Promise<TestCertificates> {
	const file = (name: string) => join(dir, name)
	const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',')
	await writeFile(file('server.ext'), `subjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth\n`)
	const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
	openssl('req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2', '-subj', '/CN=gavel test CA')
	openssl('req', '-x509', ...ec, '-keyout', file('other-ca.key'), '-out', file('other-ca.pem'), '-days', '2', '-subj', '/CN=another CA')
	openssl('req', ...ec, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', `/CN=${names[0]}`)
	openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', file('server.ext'), '-out', file('server.pem'))
	return { caFile: file('ca.pem'), certFile: file('server.pem'), keyFile: file('server.key'), otherCaFile: file('other-ca.pem') }
}

function openssl(...args: string[]): void {
	const run = Bun.spawnSync(['openssl', ...args], { stdout: 'ignore', stderr: 'pipe' })
	if (run.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${run.stderr.toString()}`)
}
