/** eventually waits until `predicate` holds, polling; fails naming `what` after `ms`. Bounded, never a timing assertion. */
export async function eventually(predicate: () => boolean, what: string, ms = 5_000): Promise<void> {
	const deadline = Date.now() + ms
	while (!predicate()) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
		await Bun.sleep(5)
	}
}
