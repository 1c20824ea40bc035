import { signal } from '@preact/signals'

/** The time every countdown reads: one timer for the page, ticking on the second so that they all turn together. */
export const now = signal(Date.now())

const tick = () => {
	now.value = Date.now()
	setTimeout(tick, 1000 - (now.value % 1000) + 5)
}
setTimeout(tick, 1000 - (Date.now() % 1000) + 5)
