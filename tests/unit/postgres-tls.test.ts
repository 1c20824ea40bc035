import { expect, test } from 'bun:test'
import { postgresTls } from '../../src/adapters/postgres/tls.ts'

const ca = (path: string) => Buffer.from(`CA from ${path}`)

test('verify-full with sslrootcert: the server certificate and host name are checked against that bundle', () => {
	const { url, ssl } = postgresTls('postgres://gavel@db.internal:5432/gavel?sslmode=verify-full&sslrootcert=/etc/rds/global-bundle.pem', ca)
	expect(ssl).toEqual({ rejectUnauthorized: true, ca: Buffer.from('CA from /etc/rds/global-bundle.pem') })
	// Neither reaches postgres.js as a server setting or its lax reading of sslmode.
	expect(url).toBe('postgres://gavel@db.internal:5432/gavel')
})

test('verify-ca checks the chain but not the host name; without sslrootcert the CAs Node trusts', () => {
	const verifyCa = postgresTls('postgres://db/gavel?sslmode=verify-ca&sslrootcert=/ca.pem', ca).ssl!
	expect(verifyCa.rejectUnauthorized).toBe(true)
	expect(verifyCa.checkServerIdentity?.('db', {} as never)).toBeUndefined()
	expect(postgresTls('postgres://db/gavel?sslmode=verify-full', ca).ssl).toEqual({ rejectUnauthorized: true })
})

test('other modes are left to postgres.js as they were', () => {
	for (const url of ['postgres://db/gavel', 'postgres://db/gavel?sslmode=require', 'postgres://db/gavel?sslmode=disable'])
		expect(postgresTls(url, ca)).toEqual({ url })
})

test('DATABASE_CA_FILE is the bundle when the URL names none; an sslrootcert in the URL wins', () => {
	expect(postgresTls('postgres://db/gavel?sslmode=verify-full', ca, '/etc/ssl/certs/rds-global-bundle.pem').ssl).toEqual({
		rejectUnauthorized: true,
		ca: Buffer.from('CA from /etc/ssl/certs/rds-global-bundle.pem'),
	})
	expect(postgresTls('postgres://db/gavel?sslmode=verify-full&sslrootcert=/own.pem', ca, '/other.pem').ssl?.ca).toEqual(Buffer.from('CA from /own.pem'))
	// Without a verify mode the file changes nothing (the configuration refuses that pairing).
	expect(postgresTls('postgres://db/gavel?sslmode=require', ca, '/other.pem')).toEqual({ url: 'postgres://db/gavel?sslmode=require' })
})
