// The NATS tasks' start script and config, run as ECS would run them (sh -c, the task's variables,
// the secrets' values) by a real sh and nats-server: two nodes of the mocked stack on free loopback
// ports. Their certificates are openssl's (the mocks' PEM text is made up), their paths moved into
// a temp dir, and ports and routes given as flags, which nats-server takes over its config file.
// What it shows: a node wants the password and TLS of every client, and routes are mutual TLS.
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from '@nats-io/transport-node'
import { Children, freePorts, waitForPort } from '../../bench/lib/servers'
import { makeCertificates, type TestCertificates } from '../helpers/tls'
import { assertPulumiInstalled } from '../../pulumi/preflight'

assertPulumiInstalled()
const h = await import('../../pulumi/testing')

const children = new Children()
let dir = ''
let certs: TestCertificates
let password = ''
const nodes: { client: number; monitor: number; route: number }[] = []

beforeAll(async () => {
	dir = await mkdtemp(join(tmpdir(), 'gavel-nats-task-'))
	certs = await makeCertificates(dir)
	const { deployment } = await h.deployForTest()
	const secretValue = (name: string) => {
		const secret = deployment.get('aws:secretsmanager/secret:Secret', name)
		return deployment.ofType('aws:secretsmanager/secretVersion:SecretVersion').find((v) => v.inputs.secretId === secret.id)?.inputs.secretString as string
	}
	password = secretValue('gavel-nats-password')
	const ports = freePorts(6)
	for (const i of [0, 1]) nodes.push({ client: ports[i * 3]!, monitor: ports[i * 3 + 1]!, route: ports[i * 3 + 2]! })
	const pem = (file: string) => Bun.file(file).text()
	for (const [i, node] of nodes.entries()) {
		const service = deployment.get('aws:ecs/service:Service', `gavel-nats-${i}`)
		const [container] = JSON.parse(deployment.byRef(service.inputs.taskDefinition).inputs.containerDefinitions)
		const local = (text: string) => text.replaceAll(h.NATS_RUN_DIR, join(dir, `run-${i}`)).replaceAll(`"${h.NATS_STORE_DIR}"`, JSON.stringify(join(dir, `store-${i}`)))
		const env: Record<string, string> = Object.fromEntries(container.environment.map((e: { name: string; value: string }) => [e.name, local(e.value)]))
		// What ECS puts in the secrets' variables, and real certificates for the made-up ones.
		const secrets = container.secrets.map((s: { name: string }) => s.name)
		expect(secrets.sort()).toEqual([h.NATS_START_ENV.password, h.NATS_START_ENV.key].sort())
		env[h.NATS_START_ENV.password] = password
		env[h.NATS_START_ENV.key] = await pem(certs.keyFile)
		env[h.NATS_START_ENV.cert] = await pem(certs.certFile)
		env[h.NATS_START_ENV.ca] = await pem(certs.caFile)
		const routes = nodes.map((n) => `nats://localhost:${n.route}`).join(',')
		// -D: the log then shows each TLS handshake.
		const flags = ['-a', '127.0.0.1', '-p', String(node.client), '-m', String(node.monitor), '--cluster', `nats://127.0.0.1:${node.route}`, '--routes', routes, '-D', '-l', join(dir, `nats-${i}.log`)]
		expect(container.entryPoint).toEqual(['sh', '-c'])
		children.add(Bun.spawn(['sh', '-c', local(container.command[0]), 'sh', ...flags], { env: { PATH: `/usr/sbin:${Bun.env.PATH ?? ''}`, ...env }, stdout: 'ignore', stderr: 'inherit' }))
	}
	for (const node of nodes) await waitForPort(node.client, 'nats-server')
})
afterAll(async () => {
	await children.abort()
	await rm(dir, { recursive: true, force: true })
})

const client = (options: Record<string, unknown>) =>
	connect({ servers: `tls://localhost:${nodes[0]!.client}`, timeout: 3_000, reconnect: false, ...options })

test('a node admits its user with the password over TLS checked against the CA', async () => {
	const nc = await client({ user: h.NATS_USER, pass: password, tls: { caFile: certs.caFile } })
	expect(nc.info?.tls_required).toBe(true)
	await nc.close()
})

test('a node refuses a client without the password, with another one, or without TLS', async () => {
	await expect(client({ tls: { caFile: certs.caFile } })).rejects.toThrow(/Authorization Violation/)
	await expect(client({ user: h.NATS_USER, pass: `${password}x`, tls: { caFile: certs.caFile } })).rejects.toThrow(/Authorization Violation/)
	// A client that logs in without TLS: the protocol by hand (nats.js upgrades whenever a server asks).
	const { said, closed } = await plainLogin(nodes[0]!.client, h.NATS_USER, password)
	expect(said).toMatch(/^INFO .*"tls_required":true/)
	// The node wanted a TLS handshake, not CONNECT: it hangs up without a PONG.
	expect(said).not.toContain('PONG')
	expect(closed).toBe(true)
})

/** Reads INFO, sends CONNECT with the password and PING in clear: what the server said, and whether it hung up. */
async function plainLogin(port: number, user: string, pass: string): Promise<{ said: string; closed: boolean }> {
	let said = ''
	const closed = Promise.withResolvers<void>()
	const socket = await Bun.connect({
		hostname: '127.0.0.1',
		port,
		socket: {
			data(s, chunk) {
				const first = said === ''
				said += chunk.toString()
				if (first) s.write(`CONNECT ${JSON.stringify({ user, pass, verbose: false, pedantic: false })}\r\nPING\r\n`)
			},
			close: () => closed.resolve(),
			error: () => closed.resolve(),
		},
	})
	const hungUp = await Promise.race([closed.promise.then(() => true), Bun.sleep(3_000).then(() => false)])
	socket.end()
	return { said, closed: hungUp }
}

test('the nodes route to each other over TLS; a server whose certificate another CA signed does not join', async () => {
	const routes = async (monitor: number) => ((await (await fetch(`http://127.0.0.1:${monitor}/routez`)).json()) as { num_routes: number }).num_routes
	const log = () => Bun.file(join(dir, 'nats-0.log')).text()
	await until(async () => (await routes(nodes[0]!.monitor)) === 1)
	expect(await routes(nodes[1]!.monitor)).toBe(1)
	expect(await log()).toMatch(/Starting TLS route (server|client) handshake[\s\S]*TLS handshake complete/)

	// An intruder on the routes with a certificate of its own CA: node 0 checks it against the stack's and hangs up.
	const foreign = await makeCertificates(await mkdtemp(join(dir, 'foreign-')))
	const [client, route] = freePorts(2)
	const conf = join(dir, 'intruder.conf')
	await Bun.write(
		conf,
		`cluster {\n  name: "gavel-nats"\n  listen: "127.0.0.1:${route}"\n  routes: ["nats://localhost:${nodes[0]!.route}"]\n` +
			`  tls {\n    cert_file: "${foreign.certFile}"\n    key_file: "${foreign.keyFile}"\n    ca_file: "${certs.caFile}"\n    timeout: 2\n  }\n}\n`,
	)
	children.add(Bun.spawn(['nats-server', '-c', conf, '-a', '127.0.0.1', '-p', String(client), '-l', join(dir, 'intruder.log')], { env: { PATH: `/usr/sbin:${Bun.env.PATH ?? ''}` }, stdout: 'ignore', stderr: 'inherit' }))
	await until(async () => /TLS route handshake error/.test(await log()))
	expect(await log()).toMatch(/TLS route handshake error: .*(certificate|unknown authority)/)
	expect(await routes(nodes[0]!.monitor)).toBe(1)
})

/** Polls `ready` until it holds; fails after 10 s. */
async function until(ready: () => Promise<boolean>): Promise<void> {
	const deadline = Date.now() + 10_000
	while (!(await ready())) {
		if (Date.now() > deadline) throw new Error('not within 10 s')
		await Bun.sleep(100)
	}
}
