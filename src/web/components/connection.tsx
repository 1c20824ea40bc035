import type { WatchStatus } from '../../client/watch.ts'

const WORDS: Record<WatchStatus, string> = {
	connecting: 'connecting…',
	'catching-up': 'behind, catching up…',
	live: 'live',
	reconnecting: 'reconnecting…',
	closed: 'not watching',
}

/** Connection: whether what the page shows is live, and when it is not, what it is doing about it. */
export function Connection({ status }: { status: WatchStatus }) {
	return (
		<p class={`connection ${status}`} role="status" data-status={status}>
			<span class="dot" aria-hidden="true" />
			{WORDS[status]}
		</p>
	)
}
