import { NATS_CLIENT_PORT, NATS_MONITOR_PORT, NATS_ROUTE_PORT } from './firewall'
import { tagOf } from './images'

/**
 * How a NATS node starts with a password and TLS files that exist only in Secrets Manager.
 *
 * ECS cannot expand a variable into a command line, and the official `nats:<version>` image is
 * FROM scratch (no shell). The `-alpine` variant has one: its entry point is `sh -c` running
 * NATS_START_SCRIPT, which writes the key, the certificates and the config (with the password)
 * into files and then execs nats-server. Chosen over an init container writing a shared volume:
 * one container, no start ordering, nothing left on a volume. Not `$NATS_PASSWORD` inside the
 * config file either: nats-server parses a variable's value as config, so a password that reads
 * as a number or a size (`12345678`, `4KB`) is mangled or crashes the parser; the script writes it
 * as a quoted string, which needs a password without `"` or `\` (the generated one is alphanumeric).
 *
 * Secrets (the password, the server's private key) reach the container only through the task
 * definition's `secrets`; the certificates are public and come as plain variables, so a re-issued
 * certificate changes the task definition and the nodes roll, one at a time, onto it.
 */

/** The servers' one user: every gavel task connects as it (NATS_USER). */
export const NATS_USER = 'gavel'
/** Where the start script writes the config and the TLS files, inside the container. */
export const NATS_RUN_DIR = '/run/nats'
/** Where each node keeps JetStream: its EBS volume. */
export const NATS_STORE_DIR = '/data'
/** TLS handshake limit, seconds; nats-server's default half second is tight across zones. */
const TLS_TIMEOUT_S = 2

/** The plain variables and the secrets (Secrets Manager ARNs) the start script reads. */
export const NATS_START_ENV = {
	config: 'NATS_CONFIG',
	user: 'NATS_USER',
	cert: 'NATS_TLS_CERT',
	ca: 'NATS_TLS_CA',
	password: 'NATS_PASSWORD',
	key: 'NATS_TLS_KEY',
} as const

/**
 * The container's command under `sh -c`. `set -eu`: a missing variable stops the node instead of
 * starting it without a password or a certificate. Arguments after the script go to nats-server
 * (none on ECS).
 */
export const NATS_START_SCRIPT = [
	'set -eu',
	'umask 077',
	`mkdir -p ${NATS_RUN_DIR}`,
	`printf '%s\\n' "$${NATS_START_ENV.key}" > ${NATS_RUN_DIR}/key.pem`,
	`printf '%s\\n' "$${NATS_START_ENV.cert}" > ${NATS_RUN_DIR}/cert.pem`,
	`printf '%s\\n' "$${NATS_START_ENV.ca}" > ${NATS_RUN_DIR}/ca.pem`,
	`printf '%s\\nauthorization {\\n  user: "%s"\\n  password: "%s"\\n}\\n' "$${NATS_START_ENV.config}" "$${NATS_START_ENV.user}" "$${NATS_START_ENV.password}" > ${NATS_RUN_DIR}/nats.conf`,
	`exec nats-server --config ${NATS_RUN_DIR}/nats.conf "$@"`,
].join('\n')

/**
 * natsServerConfig is a node's nats-server config file, but for `authorization`, which the start
 * script appends with the password. Clients must speak TLS (and log in); routes are TLS both
 * ways, each node showing its certificate and checking its peer's against the CA, so only a
 * holder of a CA-signed key joins the cluster. Monitoring (the NLB's health check) stays HTTP.
 */
export function natsServerConfig(args: { node: string; clusterName: string; routes: string[] }): string {
	const files = { cert_file: `${NATS_RUN_DIR}/cert.pem`, key_file: `${NATS_RUN_DIR}/key.pem` }
	return render({
		server_name: args.node,
		port: NATS_CLIENT_PORT,
		http_port: NATS_MONITOR_PORT,
		jetstream: { store_dir: NATS_STORE_DIR },
		tls: { ...files, timeout: TLS_TIMEOUT_S },
		cluster: {
			name: args.clusterName,
			listen: `0.0.0.0:${NATS_ROUTE_PORT}`,
			routes: args.routes,
			// Clients learn no task address (those change with every task); they list the names.
			no_advertise: true,
			tls: { ...files, ca_file: `${NATS_RUN_DIR}/ca.pem`, verify: true, timeout: TLS_TIMEOUT_S },
		},
	})
}

type ConfValue = string | number | boolean | string[] | { [key: string]: ConfValue }

/** nats-server's config syntax: `key: value` and `key { … }`; strings and lists as JSON. */
function render(block: { [key: string]: ConfValue }, indent = ''): string {
	return Object.entries(block)
		.map(([key, value]) =>
			typeof value === 'object' && !Array.isArray(value)
				? `${indent}${key} {\n${render(value, `${indent}  `)}${indent}}\n`
				: `${indent}${key}: ${JSON.stringify(value)}\n`,
		)
		.join('')
}

/**
 * checkNatsImage refuses, at preview, a NATS image whose tag is not an `-alpine` variant: the
 * default one is FROM scratch, and a node could not run its start script (the task would crash-loop
 * at deploy). A digest without a tag is taken on trust: README "Pinned images" says which to take.
 */
export function checkNatsImage(image: string): void {
	const tag = tagOf(image)
	if (tag !== undefined && !tag.includes('alpine'))
		throw new Error(
			`natsImage (${image}) must be an -alpine variant (nats:<version>-alpine): the NATS tasks start through a shell script that writes the TLS files and the password, and the plain nats image has no shell`,
		)
}
