/** A settable clock for stores and rules: `clock.now()` is what the code under test sees. */
export function testClock(start = Date.UTC(2030, 0, 1)) {
	let t = start
	return {
		now: () => t,
		set: (ms: number) => {
			t = ms
		},
		advance: (ms: number) => {
			t += ms
		},
	}
}
export type TestClock = ReturnType<typeof testClock>
