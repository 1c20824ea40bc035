import type { Server } from 'bun'

/**
 * startWaitingServer answers on gavel's port while it waits for its dependencies at startup
 * (STARTUP_WAIT_S): `/healthz` 200, so an orchestrator's liveness check does not kill a process
 * that is only waiting, and everything else 503 (not ready). Stopped right before the app listens.
 */
export function startWaitingServer(port: number, hostname: string): { port: number; stop(): Promise<void> } {
	const server: Server<undefined> = Bun.serve({
		port,
		hostname,
		reusePort: false,
		fetch(request) {
			const path = new URL(request.url).pathname
			if (path === '/healthz') return Response.json({ status: 'ok' })
			return Response.json(
				{ error: { code: 'STARTING', message: 'gavel is waiting for its dependencies (STARTUP_WAIT_S)' } },
				{ status: 503, headers: { 'retry-after': '1' } },
			)
		},
	})
	return { port: server.port!, stop: () => server.stop(true) }
}
