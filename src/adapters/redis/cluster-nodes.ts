/**
 * The seed nodes of a Redis Cluster as REDIS_CLUSTER_NODES gives them: `host:port` entries, or
 * `redis://` / `rediss://` URLs that also carry what REDIS_URL carries (user, password, TLS),
 * which then hold for every node. ioredis finds the other nodes from any one seed.
 */
export interface ClusterNodes {
	nodes: Array<{ host: string; port: number }>
	username?: string
	password?: string
	tls: boolean
}

const DEFAULT_PORT = 6379

/** parseClusterNodes reads the list, or returns the problems with it, each naming its entry. */
export function parseClusterNodes(value: string): { nodes: ClusterNodes } | { problems: string[] } {
	const problems: string[] = []
	const nodes: ClusterNodes['nodes'] = []
	const options = new Set<string>()
	let found: Omit<ClusterNodes, 'nodes'> | null = null
	for (const raw of value.split(',')) {
		const entry = raw.trim()
		if (entry === '') continue
		const isUrl = /^rediss?:\/\//.test(entry)
		let url: URL
		try {
			url = new URL(isUrl ? entry : `redis://${entry}`)
		} catch {
			problems.push(`${JSON.stringify(entry)} is neither host:port nor a redis:// or rediss:// URL`)
			continue
		}
		const port = url.port === '' ? DEFAULT_PORT : Number(url.port)
		if (url.hostname === '' || (url.pathname !== '' && url.pathname !== '/') || (!isUrl && (url.username !== '' || url.port === ''))) {
			problems.push(`${JSON.stringify(entry)} is neither host:port nor a redis:// or rediss:// URL`)
			continue
		}
		nodes.push({ host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port })
		if (!isUrl) continue
		const these = {
			username: url.username === '' ? undefined : decodeURIComponent(url.username),
			password: url.password === '' ? undefined : decodeURIComponent(url.password),
			tls: url.protocol === 'rediss:',
		}
		options.add(JSON.stringify(these))
		found = these
	}
	if (options.size > 1) problems.push('the URLs disagree on user, password or TLS: give them once (or the same in every URL)')
	if (nodes.length === 0 && problems.length === 0) problems.push('no node given (host:port, comma-separated)')
	if (problems.length > 0) return { problems }
	return { nodes: { nodes, ...(found ?? { tls: false }) } }
}

/** The list without passwords, for logs and error messages. */
export function describeClusterNodes({ nodes, tls }: ClusterNodes): string {
	return `${tls ? 'rediss' : 'redis'} cluster ${nodes.map((n) => `${n.host.includes(':') ? `[${n.host}]` : n.host}:${n.port}`).join(',')}`
}
