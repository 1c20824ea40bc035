import { Elysia } from 'elysia'
import type { Server } from 'bun'
import { clientAddress } from '../../http/client-address.ts'
import type { LiveConnection, LiveHub } from './hub.ts'

/**
 * `/live`: the watchers' WebSocket (docs/design.md §5; protocol in README "Watching live").
 *
 * A plain route that upgrades with the hub's small per-socket object instead of Elysia's `.ws`:
 * `.ws` keeps the whole request context and six closures per socket (measured 5.3 KB of RSS per
 * idle socket at 10k, over docs/design.md §9's 4 KB; this way 1.6 KB). Elysia's Bun websocket handler
 * still dispatches to the object's open/message/drain/close. A refusal (426 not a handshake,
 * 429 TOO_MANY_CONNECTIONS) is a JSON error answered before any upgrade.
 */
export function liveModule({ hub, trustProxy }: { hub: LiveHub; trustProxy: boolean }) {
	return new Elysia({ name: 'live' }).get(
		'/live',
		({ request, server, query }) => {
			const bunServer = server as Server<LiveConnection> | null
			const refused = hub.upgrade(request, bunServer, query, clientAddress(request, bunServer, trustProxy))
			if (refused === null) return
			const headers: Record<string, string> = { 'content-type': 'application/json' }
			if (refused.status === 426) headers.upgrade = 'websocket'
			return new Response(JSON.stringify(refused.toJSON()), { status: refused.status, headers })
		},
		{
			detail: {
				summary: 'Watch auctions live (WebSocket)',
				description:
					'Send {"op":"subscribe","auction":"a1","since":7} / {"op":"unsubscribe","auction":"a1"}, or connect to ' +
					'/live?auction=a1&since=7. Frames: subscribed (state + seq), the missed events, live events; reset when since ' +
					'left the kept window; error frames with a code. Close 4008 = slow consumer, 1001 = server going away. ' +
					'A plain GET is 426 UPGRADE_REQUIRED; more than LIVE_MAX_SOCKETS_PER_IP sockets from one address is 429 TOO_MANY_CONNECTIONS.',
			},
		},
	)
}
