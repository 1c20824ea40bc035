import { describe, expect, test } from 'bun:test'
import { ConfigError, loadClientConfig, loadConfig } from '../../src/config.ts'
import { archiverSettings } from '../../src/archive/host.ts'

const problemsOf = (env: Record<string, string>) => {
	try {
		loadConfig(env)
	} catch (err) {
		expect(err).toBeInstanceOf(ConfigError)
		return (err as ConfigError).problems
	}
	throw new Error('expected a ConfigError')
}

describe('config', () => {
	test('an empty environment gives the embedded defaults', () => {
		const c = loadConfig({})
		expect(c).toMatchObject({ PORT: 3000, HOST: '0.0.0.0', DATA_DIR: './data', NODE_ENV: 'development', production: false })
		expect([...c.roles]).toEqual(['api', 'live', 'archiver', 'closer'])
		expect(c.REDIS_URL).toBeUndefined()
		expect(c.NATS_URL).toBeUndefined()
		expect(c.RATE_LIMIT_BIDS_PER_SEC).toBe(20)
		expect(Object.isFrozen(c)).toBe(true)
	})

	test('the archive batch wait: short embedded (a 201 waits for the commit), longer from JetStream (nothing waits); a set value wins', () => {
		expect(archiverSettings(loadConfig({})).batchWaitMs).toBe(5)
		expect(archiverSettings(loadConfig({ NATS_URL: 'nats://127.0.0.1:4222', REDIS_URL: 'redis://127.0.0.1:6379' })).batchWaitMs).toBe(100)
		expect(archiverSettings(loadConfig({ NATS_URL: 'nats://127.0.0.1:4222', REDIS_URL: 'redis://127.0.0.1:6379', ARCHIVE_BATCH_WAIT_MS: '2' })).batchWaitMs).toBe(2)
	})

	test('numbers and lists are converted; blank values count as unset', () => {
		const c = loadConfig({ PORT: '8080', ROLES: 'api,live', REDIS_URL: '  ', RATE_LIMIT_BIDS_PER_SEC: '2.5' })
		expect(c.PORT).toBe(8080)
		expect([...c.roles]).toEqual(['api', 'live'])
		expect(c.REDIS_URL).toBeUndefined()
		expect(c.RATE_LIMIT_BIDS_PER_SEC).toBe(2.5)
	})

	test('every bad variable is named in one error', () => {
		const problems = problemsOf({ PORT: 'eighty', ROLES: 'api,chef', REDIS_URL: 'http://x', AUTH_JWT_SECRET: 'short' })
		expect(problems.join('\n')).toContain('PORT')
		expect(problems.join('\n')).toContain('ROLES')
		expect(problems.join('\n')).toContain('REDIS_URL')
		expect(problems.join('\n')).toContain('AUTH_JWT_SECRET')
		expect(problems).toHaveLength(4)
	})

	test('IDEMPOTENCY_MAX_KEYS_PER_BIDDER: 100 by default, a whole number from 1 to 10,000', () => {
		expect(loadConfig({}).IDEMPOTENCY_MAX_KEYS_PER_BIDDER).toBe(100)
		expect(loadConfig({ IDEMPOTENCY_MAX_KEYS_PER_BIDDER: '5' }).IDEMPOTENCY_MAX_KEYS_PER_BIDDER).toBe(5)
		for (const bad of ['0', '10001', 'many'])
			expect(problemsOf({ IDEMPOTENCY_MAX_KEYS_PER_BIDDER: bad })[0]).toContain('IDEMPOTENCY_MAX_KEYS_PER_BIDDER')
	})

	test('NATS_URL: one server or a comma-separated list; each bad entry is named, passwords hidden', () => {
		expect(loadConfig({ NATS_URL: 'nats://127.0.0.1:4222' }).NATS_URL).toBe('nats://127.0.0.1:4222')
		const list = 'nats://n1:4222, tls://user:pw@n2:4222 ,nats://n3'
		expect(loadConfig({ NATS_URL: list }).NATS_URL).toBe(list)
		expect(problemsOf({ NATS_URL: 'http://n1:4222' })).toEqual([
			'NATS_URL: expected a nats, tls, ws or wss URL, or a comma-separated list of them (got "http://n1:4222")',
		])
		expect(problemsOf({ NATS_URL: 'nats://n1:4222,http://user:hunter2@n2:4222,n3:4222' })).toEqual([
			'NATS_URL: entry 2 of 3 is not a nats, tls, ws or wss URL (got "http://user:***@n2:4222/")',
			'NATS_URL: entry 3 of 3 is not a nats, tls, ws or wss URL (got "n3:4222")',
		])
		expect(problemsOf({ NATS_URL: 'nats://n1:4222,,nats://n3:4222' })).toEqual([
			'NATS_URL: entry 2 of 3 is empty, a stray comma? (got "nats://n1:4222,,nats://n3:4222")',
		])
		expect(problemsOf({ NATS_URL: 'nats://n1:4222,' })[0]).toContain('entry 2 of 2 is empty')
		expect(problemsOf({ NATS_URL: 'nats://' })[0]).toContain('NATS_URL: expected')
		// Named beside the other bad variables, in one error.
		expect(problemsOf({ NATS_URL: 'nats://a,ftp://b', PORT: 'eighty' }).map((p) => p.slice(0, p.indexOf(':')))).toEqual(['PORT', 'NATS_URL'])
	})

	test('NATS_STREAM_REPLICAS: unset by default (keep what the stream has), else a whole number from 1 to 5', () => {
		expect(loadConfig({}).NATS_STREAM_REPLICAS).toBeUndefined()
		expect(loadConfig({ NATS_STREAM_REPLICAS: '3' }).NATS_STREAM_REPLICAS).toBe(3)
		expect(loadConfig({ NATS_STREAM_REPLICAS: ' 1 ' }).NATS_STREAM_REPLICAS).toBe(1)
		for (const bad of ['0', '6', '2.5', 'three', '-1'])
			expect(problemsOf({ NATS_STREAM_REPLICAS: bad })).toEqual([expect.stringMatching(/^NATS_STREAM_REPLICAS: .*whole number/)])
	})

	test('production refuses to start without a token secret or JWKS', () => {
		expect(problemsOf({ NODE_ENV: 'production' })[0]).toContain('AUTH_JWT_SECRET or AUTH_JWKS_URL')
		expect(loadConfig({ NODE_ENV: 'production', AUTH_JWT_SECRET: 'x'.repeat(32) }).production).toBe(true)
		expect(problemsOf({ AUTH_JWT_SECRET: 'x'.repeat(32), AUTH_JWKS_URL: 'https://id.example/jwks' })[0]).toContain('not both')
	})

	test('production with a JWKS needs the issuer and the audience, and keys over https', () => {
		const jwks = { NODE_ENV: 'production', AUTH_JWKS_URL: 'https://id.example/jwks' }
		const problems = problemsOf(jwks)
		expect(problems).toHaveLength(2)
		expect(problems[0]).toContain('AUTH_ISSUER: required')
		expect(problems[1]).toContain('AUTH_AUDIENCE: required')
		const complete = { ...jwks, AUTH_ISSUER: 'https://id.example/', AUTH_AUDIENCE: 'gavel' }
		expect(loadConfig(complete).AUTH_AUDIENCE).toBe('gavel')
		expect(problemsOf({ ...complete, AUTH_JWKS_URL: 'http://id.example/jwks' })).toEqual([
			'AUTH_JWKS_URL: must be https:// when NODE_ENV=production (got "http://id.example/jwks")',
		])
		// Development and tests may use a local identity provider over http, issuer and audience optional.
		expect(loadConfig({ AUTH_JWKS_URL: 'http://127.0.0.1:9000/jwks' }).AUTH_JWKS_URL).toBe('http://127.0.0.1:9000/jwks')
	})
})

describe('client config', () => {
	test('GAVEL_URL defaults to the local gavel; GAVEL_TOKEN is optional', () => {
		expect(loadClientConfig({})).toEqual({ GAVEL_URL: 'http://localhost:3000' })
		expect(loadClientConfig({ GAVEL_URL: ' https://gavel.example/api ', GAVEL_TOKEN: 'eyJ…' })).toEqual({
			GAVEL_URL: 'https://gavel.example/api',
			GAVEL_TOKEN: 'eyJ…',
		})
	})

	test('a GAVEL_URL that is not an http(s) URL is named', () => {
		for (const bad of ['localhost:3000', 'ws://localhost:3000', 'http://', 'http://a b']) {
			try {
				loadClientConfig({ GAVEL_URL: bad })
				throw new Error(`accepted ${bad}`)
			} catch (err) {
				expect(err).toBeInstanceOf(ConfigError)
				expect((err as ConfigError).problems).toEqual([`GAVEL_URL: an http or https URL, e.g. http://localhost:3000 (got ${JSON.stringify(bad)})`])
			}
		}
	})
})

test('an integer setting must be written as a whole number: 2.5, 1e3 and 0x10 are refused, not truncated', () => {
	for (const raw of ['2.5', '1e3', '0x10', '12abc']) {
		let problems: string[] = []
		try {
			loadConfig({ EVENTS_KEPT: raw })
		} catch (err) {
			problems = (err as ConfigError).problems
		}
		expect(problems.some((p) => p.startsWith('EVENTS_KEPT:'))).toBe(true)
	}
	expect(loadConfig({ EVENTS_KEPT: ' 2000 ' }).EVENTS_KEPT).toBe(2000)
	// Refused even where the truncated number would be in range (the check reads the text as written).
	for (const raw of ['2.5', '1e3']) expect(() => loadConfig({ PORT: raw })).toThrow('PORT: expected a whole number')
	expect(loadConfig({ RATE_LIMIT_BIDS_PER_SEC: '2.5' }).RATE_LIMIT_BIDS_PER_SEC).toBe(2.5)
})

test('TRUST_PROXY takes false, true, a hop count or CIDRs, and names a bad entry', () => {
	expect(loadConfig({}).TRUST_PROXY).toEqual({ kind: 'none' })
	expect(loadConfig({ TRUST_PROXY: 'true' }).TRUST_PROXY).toEqual({ kind: 'hops', hops: 1 })
	expect(loadConfig({ TRUST_PROXY: '10.0.0.0/16' }).TRUST_PROXY).toMatchObject({ kind: 'ranges' })
	expect(problemsOf({ TRUST_PROXY: '10.0.0.0/16,10.0.0' })).toEqual([expect.stringContaining('TRUST_PROXY: entry 2 of 2 is not a CIDR or an IP address (got "10.0.0")')])
})

test('HTTP_IDLE_TIMEOUT_S stays within what Bun.serve accepts', () => {
	expect(loadConfig({}).HTTP_IDLE_TIMEOUT_S).toBe(130)
	expect(problemsOf({ HTTP_IDLE_TIMEOUT_S: '256' })[0]).toContain('HTTP_IDLE_TIMEOUT_S')
})
