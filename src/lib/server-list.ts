/**
 * serverList reads a comma-separated list of server URLs (`NATS_URL`: the seed servers of a
 * cluster, docs/design.md §3). Blanks around entries are dropped; an empty entry stays, as '',
 * so the configuration check can name it instead of skipping a typo.
 */
export function serverList(value: string): string[] {
	return value.split(',').map((entry) => entry.trim())
}
