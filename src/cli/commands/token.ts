import { loadConfig } from '../../config.ts'
import { signToken } from '../../auth/tokens.ts'
import { devSecretPath, readDevSecret } from '../../auth/dev-secret.ts'
import { CliError, parseDuration } from '../args.ts'
import { defineCommand } from '../spec.ts'

/** How to start the gavel whose secret `token` reads: `bun start` from a clone, else the serve command. */
const startCommand = (program: string) => (program === 'bun run gavel' ? 'bun start' : `${program} serve`)

export const tokenCommand = defineCommand({
	name: 'token',
	summary: 'mint a token to try gavel with (HS256)',
	description:
		'Signs with AUTH_JWT_SECRET when it is set, else with the development secret the running gavel created\n' +
		'in DATA_DIR: run it in the directory where you started gavel, with the same DATA_DIR. It never creates a\n' +
		'secret itself. With AUTH_JWKS_URL, tokens come from your identity provider instead.',
	options: [
		{ name: 'sub', type: 'string', value: 'ID', required: true, help: 'who the token is for: the bidder or seller id' },
		{
			name: 'role',
			type: 'string',
			value: 'ROLE',
			multiple: true,
			choices: ['seller', 'admin'],
			help: 'a role to grant: seller creates auctions, admin may do everything',
			defaultHelp: 'none, a plain bidder',
		},
		{ name: 'ttl', type: 'string', value: 'DURATION', default: '1h', help: 'how long the token stays valid: 30m, 8h, 7d' },
	],
	env: [
		['AUTH_JWT_SECRET', "the server's HS256 secret, if it has one"],
		['DATA_DIR', "the server's data directory, where its development secret is (default ./data)"],
		['AUTH_ISSUER, AUTH_AUDIENCE', 'the iss and aud claims, when the server checks them'],
	],
	examples: (gavel) => ['# a seller, kept in a shell variable', `SELLER=$(${gavel} token --sub sam --role seller)`, '# a bidder for a working day', `${gavel} token --sub bob --ttl 8h`],
	async run({ values, program }) {
		const config = loadConfig()
		if (config.AUTH_JWKS_URL) throw new CliError('AUTH_JWKS_URL is set: tokens come from your identity provider, not from gavel')
		const secret = config.AUTH_JWT_SECRET ?? (await readDevSecret(config.DATA_DIR))
		if (secret === null)
			throw new CliError(
				`no development secret at ${devSecretPath(config.DATA_DIR)}: start gavel first (${startCommand(program)}) in this directory, ` +
					"or set DATA_DIR to the server's data directory, or set AUTH_JWT_SECRET to the server's secret",
			)
		const ttlSeconds = Math.max(1, Math.round(parseDuration(values.ttl, '--ttl') / 1000))
		const token = await signToken(secret, {
			sub: values.sub,
			roles: [...new Set(values.role ?? [])],
			ttlSeconds,
			issuer: config.AUTH_ISSUER,
			audience: config.AUTH_AUDIENCE,
		})
		console.log(token)
		return 0
	},
})
