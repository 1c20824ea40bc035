import { Elysia } from 'elysia'
import { Type as T } from '@sinclair/typebox'
import { errorResponses, Refusal } from '../error-responses.ts'
import type { Server } from 'bun'
import { clientAddress, type TrustProxy } from '../../http/client-address.ts'
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
export function liveModule({ hub, trustProxy }: { hub: LiveHub; trustProxy: TrustProxy }) {
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
			response: {
				101: T.Void({ description: 'Switching Protocols: the WebSocket is open' }),
				...errorResponses({
					404: '`NOT_FOUND`: this instance does not serve `/live` (`ROLES` without `live`)',
					414: Refusal.urlTooLong,
					426: '`UPGRADE_REQUIRED`: a plain GET; connect with a WebSocket client',
					429: Refusal.ipLimited,
				}),
			},
			detail: {
				summary: 'Watch auctions live (WebSocket)',
				operationId: 'live',
				tags: ['live'],
				// Documented only: the hub reads them, and a bad one is an error frame on the open socket, not a 422.
				parameters: [
					{ name: 'auction', in: 'query', required: false, schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' }, description: 'Subscribe to this auction on open' },
					{ name: 'since', in: 'query', required: false, schema: { type: 'string', pattern: '^[0-9]{1,16}$' }, description: 'With `auction`: replay the events after this seq first' },
				],
				description:
					'Send {"op":"subscribe","auction":"a1","since":7} / {"op":"unsubscribe","auction":"a1"}, or connect to ' +
					'/live?auction=a1&since=7. Frames: subscribed (state + seq), the missed events, live events; reset when since ' +
					'left the kept window; error frames with a code. Close 4008 = slow consumer, 1001 = server going away. ' +
					'A plain GET is 426 UPGRADE_REQUIRED; more than LIVE_MAX_SOCKETS_PER_IP sockets from one address is 429 TOO_MANY_CONNECTIONS.',
			},
		},
	)
}
