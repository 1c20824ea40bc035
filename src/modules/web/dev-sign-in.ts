import { Elysia, t } from 'elysia'
import { SUB_PATTERN } from '../../auth/tokens.ts'

/** Mints a token for `sub` with the development secret. */
export type DevSignIn = (claims: { sub: string; roles: string[] }) => Promise<string>

/**
 * `POST /dev/token {sub, seller?}` → `{token}`: the web page's "sign in as" with the generated
 * development secret. It exists only where that secret is in use (no AUTH_JWT_SECRET or
 * AUTH_JWKS_URL, never in production): the route is not registered otherwise, so it is a 404
 * like any unknown path. `sub` is held to the rule tokens are (src/auth/tokens.ts), and the
 * request is limited per address like every request without a token.
 */
export function devSignInModule(sign: DevSignIn) {
	return new Elysia({ name: 'dev-sign-in' }).post(
		'/dev/token',
		async ({ body }) => ({ token: await sign({ sub: body.sub, roles: body.seller === true ? ['seller'] : [] }) }),
		{
			body: t.Object(
				{
					sub: t.String({ pattern: SUB_PATTERN.source, description: '1 to 128 letters, digits or . _ : @ | + = -' }),
					seller: t.Optional(t.Boolean({ description: 'grant the seller role' })),
				},
				{ additionalProperties: false },
			),
			parse: 'json',
			// A development helper, not part of the API the document describes.
			detail: { hide: true },
		},
	)
}
