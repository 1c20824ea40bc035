/** What clientAddress needs of the server: Bun's peer address of a request. */
export interface RequestIPSource {
	requestIP(request: Request): { address: string } | null
}

/**
 * clientAddress is the address a request counts against for per-client limits (the IP rate
 * limit, WebSockets per address): the last `X-Forwarded-For` entry with TRUST_PROXY (the one
 * the load balancer added; earlier entries are the client's to invent), else the peer address.
 */
export function clientAddress(request: Request, server: RequestIPSource | null, trustProxy: boolean): string {
	if (trustProxy) {
		const forwarded = request.headers.get('x-forwarded-for')
		if (forwarded) return forwarded.slice(forwarded.lastIndexOf(',') + 1).trim()
	}
	return server?.requestIP(request)?.address ?? 'unknown'
}
