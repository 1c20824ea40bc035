import { createClient, GavelApiError, unwrap, type GavelClient } from '../client/index.ts'
import { DEFAULT_GAVEL_URL, HTTP_URL_PATTERN, loadClientConfig } from '../config.ts'
import { CliError, UsageError } from './args.ts'
import { when } from './describe.ts'
import type { OptionSpec } from './spec.ts'

/** The options every command that talks to a gavel takes. */
export const urlOption = {
	name: 'url',
	type: 'string',
	value: 'URL',
	help: 'where gavel answers',
	defaultHelp: `$GAVEL_URL, else ${DEFAULT_GAVEL_URL}`,
} as const satisfies OptionSpec
export const tokenOption = {
	name: 'token',
	type: 'string',
	value: 'JWT',
	help: 'your token, from the token command',
	defaultHelp: '$GAVEL_TOKEN',
} as const satisfies OptionSpec
export const jsonOption = { name: 'json', type: 'boolean', help: "print the API's JSON answer instead of sentences" } as const satisfies OptionSpec

export const CLIENT_ENV = [
	['GAVEL_URL', `where gavel answers, when --url is not given (default ${DEFAULT_GAVEL_URL})`],
	['GAVEL_TOKEN', 'your token, when --token is not given'],
] as const

export interface Api {
	url: string
	client: GavelClient
	/**
	 * call awaits one request and returns its data. A gavel that does not answer, or an error
	 * answer, becomes a CliError with one line to print (the GavelApiError is its `cause`).
	 */
	call<T>(request: Parameters<typeof unwrap<T>>[0]): Promise<T>
}

/** connect picks the URL and token (the options, else GAVEL_URL / GAVEL_TOKEN) and returns the typed client. */
export function connect(values: { url?: string; token?: string }, program: string): Api {
	const env = loadClientConfig()
	if (values.url !== undefined && !new RegExp(HTTP_URL_PATTERN).test(values.url))
		throw new UsageError(`--url must be an http or https URL such as ${DEFAULT_GAVEL_URL}, got ${JSON.stringify(values.url)}`)
	const url = (values.url ?? env.GAVEL_URL).replace(/\/+$/, '')
	const client = createClient(url, { token: values.token ?? env.GAVEL_TOKEN })
	return {
		url,
		client,
		async call<T>(request: Parameters<typeof unwrap<T>>[0]): Promise<T> {
			try {
				return await unwrap(request)
			} catch (err) {
				if (!(err instanceof GavelApiError)) throw err
				throw new CliError(apiErrorLine(err, { url, program }), { cause: err })
			}
		},
	}
}

/** nothingAnswers is the one line for a gavel that is not there, naming the URL tried. */
export const nothingAnswers = (url: string) => `nothing answers at ${url} — is gavel running? set --url or GAVEL_URL`

/** apiErrorLine is an API error as one line: status, code, the API's message and what to do about it. */
export function apiErrorLine(err: GavelApiError, { url, program, now = Date.now() }: { url: string; program: string; now?: number }): string {
	if (err.code === 'UNREACHABLE') return nothingAnswers(url)
	const hint = (() => {
		switch (err.code) {
			case 'UNAUTHORIZED':
				return `pass --token or set GAVEL_TOKEN (make one with: ${program} token --sub YOU)`
			case 'FORBIDDEN':
				return err.message.includes('seller') ? `creating auctions takes a seller token: ${program} token --sub YOU --role seller` : ''
			case 'NOT_STARTED':
				return typeof err.details.startsAt === 'number' ? `it opens ${when(err.details.startsAt, now)}` : ''
			case 'RATE_LIMITED':
				return typeof err.details.retryAfter === 'number' ? `try again in ${err.details.retryAfter}s` : ''
			case 'HTTP_ERROR':
				return `is ${url} a gavel?`
			default:
				return ''
		}
	})()
	return `${err.status ? `${err.status} ` : ''}${err.code}: ${err.message}${hint ? ` · ${hint}` : ''}`
}
