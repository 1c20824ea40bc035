/**
 * rawJson sends JSON text that is already serialised (the store built it, or it is spliced
 * from stored events) without parsing it again. It is typed as the value the text encodes, so
 * the route's schema and the Eden client see the real shape rather than `Response`.
 */
export function rawJson<T>(json: string, init: { status?: number; headers?: Record<string, string> } = {}): T {
	return new Response(json, {
		status: init.status ?? 200,
		headers: init.headers ?? { 'content-type': 'application/json' },
	}) as unknown as T
}
