import { createRemoteJWKSet, jwtVerify, SignJWT, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { ForbiddenError, UnauthorizedError } from '../errors.ts'

export type Role = 'seller' | 'admin'

/** Who is calling: `sub` is the bidder id, `roles` what else they may do. */
export interface Principal {
	sub: string
	roles: readonly string[]
}

export interface AuthOptions {
	/** HS256 shared secret… */
	secret?: string
	/** …or a JWKS URL for asymmetric keys (exactly one of the two). */
	jwksUrl?: string
	issuer?: string
	audience?: string
	now?: () => number
}

const HMAC_ALGORITHMS = ['HS256']
const ASYMMETRIC_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA']
/**
 * What a `sub` (the bidder id) may be: a string of ids' characters plus the few identity
 * providers use (`auth0|…`, e-mail addresses, `google-oauth2|…`, base64url). It ends up in
 * events, Redis keys and script arguments, so anything else, and any other type, is refused.
 */
export const SUB_PATTERN = /^[A-Za-z0-9._:@|+=-]{1,128}$/
/** Verified tokens kept so a bidder's next bids skip the signature check until `exp`. */
const CACHE_LIMIT = 50_000

/**
 * createAuth verifies bearer JWTs with the algorithm pinned (HS256 for a secret, asymmetric
 * only for a JWKS) and `exp` required. A token is immutable, so its verified principal is
 * cached until it expires: the hot path pays for the signature once per token, not per bid.
 */
export function createAuth(options: AuthOptions) {
	const now = options.now ?? Date.now
	const key: Uint8Array | JWTVerifyGetKey = options.secret
		? new TextEncoder().encode(options.secret)
		: createRemoteJWKSet(new URL(options.jwksUrl!))
	const algorithms = options.secret ? HMAC_ALGORITHMS : ASYMMETRIC_ALGORITHMS
	const verified = new Map<string, { principal: Principal; expiresAt: number }>()

	async function verifyToken(token: string): Promise<Principal> {
		const cached = verified.get(token)
		if (cached !== undefined && cached.expiresAt > now()) return cached.principal
		let payload: JWTPayload
		try {
			;({ payload } = await jwtVerify(token, key as Uint8Array, {
				algorithms,
				requiredClaims: ['exp', 'sub'],
				issuer: options.issuer,
				audience: options.audience,
				currentDate: new Date(now()),
			}))
		} catch (err) {
			verified.delete(token)
			const code = (err as { code?: string }).code
			throw new UnauthorizedError(code === 'ERR_JWT_EXPIRED' ? 'the token has expired' : 'the token is not valid', { cause: err })
		}
		// jose checks that `sub` exists, not what it is: a number, an array or an object would
		// otherwise reach the rules, the events and the Lua script's arguments.
		const sub: unknown = payload.sub
		if (typeof sub !== 'string' || !SUB_PATTERN.test(sub))
			throw new UnauthorizedError('sub must be a string of 1 to 128 letters, digits or . _ : @ | + = -')
		const claimed = (payload as { roles?: unknown }).roles
		const roles = Array.isArray(claimed) ? claimed.filter((r): r is string => typeof r === 'string' && r.length <= 64) : []
		const principal: Principal = Object.freeze({ sub, roles: Object.freeze(roles) })
		if (verified.size >= CACHE_LIMIT) verified.clear() // crude but bounded; tokens re-verify once
		verified.set(token, { principal, expiresAt: payload.exp! * 1000 })
		return principal
	}

	return {
		/**
		 * verified tells, without verifying anything, whether this Authorization header carries a
		 * token that already passed verification and has not expired: the per-IP limiter lets only
		 * those through, so a made-up header does not dodge it.
		 */
		verified(authorization: string): boolean {
			const token = bearerToken(authorization)
			const cached = token === null ? undefined : verified.get(token)
			return cached !== undefined && cached.expiresAt > now()
		},
		/** authenticate reads `Authorization: Bearer <jwt>`; UnauthorizedError when missing or bad. */
		async authenticate(authorization: string | null | undefined): Promise<Principal> {
			if (!authorization) throw new UnauthorizedError()
			const token = bearerToken(authorization)
			if (token === null) throw new UnauthorizedError('use Authorization: Bearer <token>')
			return verifyToken(token)
		},
	}
}

const bearerToken = (authorization: string): string | null => /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1] ?? null

export type Auth = ReturnType<typeof createAuth>

/** requireRole lets `admin` do everything a `seller` may. */
export function requireRole(principal: Principal, role: Role): void {
	if (!principal.roles.includes(role) && !principal.roles.includes('admin'))
		throw new ForbiddenError(`the ${role} role is required`)
}

export interface TokenClaims {
	sub: string
	roles?: string[]
	/** Lifetime in seconds. */
	ttlSeconds?: number
	issuer?: string
	audience?: string
}

/** signToken mints an HS256 token (the CLI's `gavel token`, tests, benchmarks). */
export async function signToken(secret: string, claims: TokenClaims): Promise<string> {
	let jwt = new SignJWT({ roles: claims.roles ?? [] })
		.setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
		.setSubject(claims.sub)
		.setIssuedAt()
		.setExpirationTime(Math.floor(Date.now() / 1000) + (claims.ttlSeconds ?? 3600))
	if (claims.issuer) jwt = jwt.setIssuer(claims.issuer)
	if (claims.audience) jwt = jwt.setAudience(claims.audience)
	return jwt.sign(new TextEncoder().encode(secret))
}
