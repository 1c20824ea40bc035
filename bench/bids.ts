import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bidCounts, createAuctions, token, type Target } from './lib/gavel.ts'
import { cpuDelta, cpuOfAll, cpuSeconds, pidOf, pidsOf, progress, progressDone, redisCpuSeconds } from './lib/proc.ts'

export interface ArchiveUnderLoad {
	/** Events the store holds for these auctions (auction.created + every bid.placed). */
	expected: number
	archived: number
	distinct: number
	lost: number
	duplicates: number
	/** Events committed to Postgres per second while the load ran. */
	perSecondDuringLoad: number
	/** From the load's end to the last event committed; -1 when it never caught up (30 s). */
	lastBidToArchivedMs: number
}

export interface BidsOptions {
	connections?: number
	durationSeconds?: number
	auctions?: number
	bidders?: number
	/**
	 * Every bid accepted (issue 17's workload): each connection keeps one auction of its own and
	 * two bidders there take turns, each bid one step above the last, so each bid becomes an
	 * event, a JetStream message and an archive row. Default: the realistic mix (about half TOO_LOW).
	 */
	acceptAll?: boolean
	/**
	 * An open loop at this many bids/s (lib/open-loop.ts, every bid accepted) instead of wrk's
	 * closed loop: latency from the moment each bid was due, at a rate the server does not set.
	 */
	rate?: number
}

export interface BidsResult {
	connections: number
	durationSeconds: number
	requests: number
	bidsPerSecond: number
	accepted: number
	rejected: number
	errors: number
	latencyMs: { p50: number; p75: number; p90: number; p99: number; max: number }
	clientCpuSeconds: number
	serverCpuSeconds: number
	/** Where the machine's CPU went during the run, in CPU seconds (2 cores × duration is all of it). */
	/** The archive under this load, counted in Postgres (when the bench runs the archiver). */
	archive?: ArchiveUnderLoad
	/** wrk, or the slower in-Bun generator when wrk is not installed, or the open loop at `rate`. */
	generator: 'wrk' | 'bun-fetch' | 'open-loop'
	/** The open loop's rate (bids/s asked for), and how many bids waited because every auction had one in flight. */
	rate?: number
	late?: number
	cpu: { gavel: number; archiver: number; postgres: number; redis: number; nats: number; client: number; capacity: number }
}

/**
 * The bids workload: wrk (a C load generator, so the client is not the bottleneck; without it,
 * the slower lib/fetch-load.ts) posts bids
 * from many bidders over `connections` keep-alive connections to `auctions` auctions. Amounts
 * climb per wrk thread with jitter, so the threads overtake each other and a realistic share
 * of bids is refused as TOO_LOW.
 */
export async function benchBids(target: Target, options: BidsOptions = {}): Promise<BidsResult> {
	const connections = options.connections ?? 100
	const durationSeconds = options.durationSeconds ?? 10
	const rate = options.rate
	const acceptAll = (options.acceptAll ?? false) || rate !== undefined
	// All accepted: an auction per connection (so no two bids on one auction are ever in flight).
	const auctions = await createAuctions(target, acceptAll ? connections : (options.auctions ?? 100), `bids${Date.now().toString(36)}-`)
	const tokens = await Promise.all(Array.from({ length: acceptAll ? 2 * connections : (options.bidders ?? 1000) }, (_, i) => token(target.secret, `bidder-${i}`)))
	const dir = await mkdtemp(join(tmpdir(), 'gavel-bench-'))
	const script = join(dir, 'bids.lua')
	await Bun.write(script, acceptAll ? acceptAllScript(tokens, auctions) : mixedScript(tokens, auctions))
	const configFile = join(dir, 'load.json')
	await Bun.write(configFile, JSON.stringify({ tokens, auctions, connections, seconds: durationSeconds, acceptAll, rate }))
	const archiveCheck = target.databaseUrl && target.redisPrefix ? await archiveCounter(target.databaseUrl, target.redisPrefix, auctions) : null
	const archivedBefore = (await archiveCheck?.count())?.archived ?? 0
	const urls = target.urls ?? [target.url]
	const before = await bidCounts(urls)
	// One process each (the bench's own gavel, the machine's Redis and NATS), or every process of
	// a deployment it was pointed at (`--cluster`).
	const own = target.processes
	const groupCpu = (pids: number[]) => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0)
	const gavelPids = own?.gavel ?? (target.pid === undefined ? [] : [target.pid])
	const archiverPids = own?.archiver ?? (target.archiverPid === undefined ? [] : [target.archiverPid])
	const natsPids = own?.nats ?? [pidOf('nats-server')].filter((pid): pid is number => pid !== undefined)
	const redisCpuNow = () => (own ? Promise.resolve(groupCpu(own.redis)) : redisCpuSeconds().catch(() => 0))
	const serverCpu = groupCpu(gavelPids)
	const natsCpu = groupCpu(natsPids)
	const redisCpu = await redisCpuNow()
	const archiverCpu = groupCpu(archiverPids)
	const postgresCpu = cpuOfAll(pidsOf('postgres'))
	const generator = rate !== undefined ? 'open-loop' : Bun.which('wrk') ? 'wrk' : 'bun-fetch'
	if (generator === 'bun-fetch') console.error('bids: wrk is not installed (apt-get install wrk); using the slower in-Bun generator')
	progress(`bids: ${generator === 'open-loop' ? `open loop at ${rate} bids/s` : `${generator} -c${connections}`} -d${durationSeconds}s against ${urls.join(' and ')} …`)
	const ticker = setInterval(async () => {
		const now = await bidCounts(urls).catch(() => before)
		progress(`bids: ${now.accepted - before.accepted} accepted, ${now.rejected - before.rejected} rejected so far`)
	}, 1_000)
	// wrk aims at one host: one wrk per URL, sharing the 2 threads and the connections. The
	// fallback takes them all and spreads its connections round robin.
	const loads = (
		generator === 'wrk'
			? splitConnections(connections, urls.length).map((c, i) => {
					const threads = Math.max(1, Math.floor(2 / urls.length))
					const part = acceptAll ? [String(i), String(urls.length), String(threads)] : i > 0 ? [String(i * 104_729)] : []
					return ['wrk', `-t${threads}`, `-c${c}`, `-d${durationSeconds}s`, '--latency', '-s', script, urls[i]!, ...(part.length > 0 ? ['--', ...part] : [])]
				})
			: [['bun', join(import.meta.dir, generator === 'open-loop' ? 'lib/open-loop.ts' : 'lib/fetch-load.ts'), urls.join(','), configFile]]
	).map((argv) => Bun.spawn(argv, { stdout: 'pipe', stderr: 'pipe' }))
	const outputs = await Promise.all(loads.map((load) => new Response(load.stdout).text()))
	const codes = await Promise.all(loads.map((load) => load.exited))
	const loadEnded = performance.now()
	const archivedAtEnd = (await archiveCheck?.count())?.archived ?? 0
	clearInterval(ticker)
	progressDone()
	const failed = codes.findIndex((code) => code !== 0)
	if (failed >= 0) throw new Error(`${generator} failed (${codes[failed]}): ${await new Response(loads[failed]!.stderr).text()}`)
	const clientCpu = loads.reduce((sum, load) => {
		const usage = load.resourceUsage()
		return sum + (usage ? Number(usage.cpuTime.user + usage.cpuTime.system) / 1e6 : 0)
	}, 0)
	const after = await bidCounts(urls)
	const redisUsed = (await redisCpuNow()) - redisCpu
	const natsUsed = groupCpu(natsPids) - natsCpu
	const archiverUsed = groupCpu(archiverPids) - archiverCpu
	const postgresUsed = cpuDelta(postgresCpu)
	await rm(dir, { recursive: true, force: true })
	let archive: ArchiveUnderLoad | undefined
	if (archiveCheck) {
		progress('bids: waiting for the archive to catch up …')
		const expected = await archiveCheck.expected()
		let counts = await archiveCheck.count()
		while (counts.archived < expected && performance.now() - loadEnded < 30_000) {
			await Bun.sleep(10)
			counts = await archiveCheck.count()
		}
		progressDone()
		archive = {
			expected,
			archived: counts.archived,
			distinct: counts.distinct,
			lost: Math.max(0, expected - counts.distinct),
			duplicates: counts.archived - counts.distinct,
			perSecondDuringLoad: Math.round((archivedAtEnd - archivedBefore) / durationSeconds),
			lastBidToArchivedMs: counts.archived >= expected ? Math.round(performance.now() - loadEnded) : -1,
		}
		await archiveCheck.close()
	}
	const openLoop = generator === 'open-loop' ? (JSON.parse(outputs[0]!) as { sent: number; errors: number; late: number; latencyMs: LoadFigures['latencyMs'] }) : null
	const figures: LoadFigures = openLoop
		? { requests: openLoop.sent, errors: openLoop.errors, latencyMs: openLoop.latencyMs }
		: generator === 'bun-fetch'
			? (JSON.parse(outputs[0]!) as LoadFigures)
			: mergeWrkFigures(outputs.map(wrkFigures))
	const { requests } = figures
	const accepted = after.accepted - before.accepted
	const rejected = after.rejected - before.rejected
	const gavelCpu = Number((groupCpu(gavelPids) - serverCpu).toFixed(2))
	return {
		connections,
		durationSeconds,
		requests,
		bidsPerSecond: Math.round((accepted + rejected) / durationSeconds),
		accepted,
		rejected,
		errors: figures.errors + Math.max(0, requests - accepted - rejected),
		latencyMs: figures.latencyMs,
		clientCpuSeconds: clientCpu,
		serverCpuSeconds: gavelCpu,
		archive,
		generator,
		...(openLoop ? { rate, late: openLoop.late } : {}),
		cpu: {
			gavel: gavelCpu,
			archiver: Number(archiverUsed.toFixed(2)),
			postgres: Number(postgresUsed.toFixed(2)),
			redis: Number(redisUsed.toFixed(2)),
			nats: Number(natsUsed.toFixed(2)),
			client: Number(clientCpu.toFixed(2)),
			capacity: navigator.hardwareConcurrency * durationSeconds,
		},
	}
}

const luaList = (values: string[]) => values.map((v) => `"${v}"`).join(',')

/** The realistic mix: amounts climb per wrk thread with jitter, so threads overtake each other and about half the bids are TOO_LOW. */
function mixedScript(tokens: string[], auctions: string[]): string {
	return `local tokens = {${luaList(tokens)}}
local auctions = {${luaList(auctions)}}
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end
function init(args)
  -- one wrk per URL: the part's number (after --) keeps their sequences apart
  math.randomseed(seed * 7919 + (tonumber(args[1]) or 0))
end
request = function()
  counter = counter + 1
  local auction = auctions[(counter % #auctions) + 1]
  local amount = 100 + counter * 2 + math.random(0, 40)
  return wrk.format("POST", "/auctions/" .. auction .. "/bids",
    {["Authorization"] = "Bearer " .. tokens[math.random(#tokens)], ["Content-Type"] = "application/json"},
    '{"amount":' .. amount .. '}')
end
`
}

/**
 * Every bid accepted. wrk's request() does not say which connection asks, but a connection asks
 * right after its response() ran: so the response names the auction it was for (the answer's
 * "auction"), and the next request on that connection stays on it, with the other of its two
 * bidders and one step above. Each connection thus owns one auction (dealt out at the start)
 * and never has two bids on it in flight.
 */
function acceptAllScript(tokens: string[], auctions: string[]): string {
	return `local tokens = {${luaList(tokens)}}
local auctions = {${luaList(auctions)}}
local slots = {}
for i, a in ipairs(auctions) do slots[a] = i end
local threads = 0
local dealt, stride = 0, 1
local turn = {}
local next_auction = nil
function setup(thread)
  threads = threads + 1
  thread:set("index", threads)
end
function init(args)
  -- after --: this wrk's part, how many parts (one wrk per URL) and threads each: auctions are
  -- dealt out so that no two connections anywhere share one
  local part, parts, per = tonumber(args[1]) or 0, tonumber(args[2]) or 1, tonumber(args[3]) or 1
  dealt = part * per + (index - 1)
  stride = parts * per
end
function response(status, headers, body)
  next_auction = body and body:match('"auction":"([^"]+)"') or nil
end
request = function()
  local auction = next_auction
  next_auction = nil
  if auction == nil then
    auction = auctions[(dealt % #auctions) + 1]
    dealt = dealt + stride
  end
  local n = (turn[auction] or 0) + 1
  turn[auction] = n
  return wrk.format("POST", "/auctions/" .. auction .. "/bids",
    {["Authorization"] = "Bearer " .. tokens[(slots[auction] - 1) * 2 + (n % 2) + 1], ["Content-Type"] = "application/json"},
    '{"amount":' .. (100 + n * 10) .. '}')
end
`
}

/** What one load generator reports: requests sent, those that failed on the socket, latency. */
export interface LoadFigures {
	requests: number
	errors: number
	latencyMs: BidsResult['latencyMs']
}

/** `total` connections over `parts` targets, as evenly as whole connections go. */
export function splitConnections(total: number, parts: number): number[] {
	if (total < parts) throw new Error(`${total} connections cannot reach ${parts} URLs`)
	return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0))
}

/** Reads wrk's report: "N requests in", "Socket errors: …", "Latency avg stdev max" and, with --latency, "50%  1.23ms". */
export function wrkFigures(output: string): LoadFigures {
	const toMs = (value: string, unit: string) => Number(value) * { us: 0.001, ms: 1, s: 1000 }[unit as 'ms']
	const percentile = (label: string) => {
		const m = new RegExp(`^\\s*${label}\\s+([\\d.]+)(us|ms|s)`, 'm').exec(output)
		return m ? toMs(m[1]!, m[2]!) : Number.NaN
	}
	const max = /Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)/.exec(output)
	const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output)
	return {
		requests: Number(/(\d+) requests in/.exec(output)?.[1] ?? 0),
		errors: socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
		latencyMs: { p50: percentile('50%'), p75: percentile('75%'), p90: percentile('90%'), p99: percentile('99%'), max: max ? toMs(max[1]!, max[2]!) : Number.NaN },
	}
}

/**
 * Several wrk runs as one: requests and errors summed. A percentile of the whole lies between
 * the parts' percentiles; each is reported as the highest part's, an upper bound (exact for one part).
 */
export function mergeWrkFigures(parts: LoadFigures[]): LoadFigures {
	const highest = (key: keyof LoadFigures['latencyMs']) => Math.max(...parts.map((p) => p.latencyMs[key]))
	return {
		requests: parts.reduce((sum, p) => sum + p.requests, 0),
		errors: parts.reduce((sum, p) => sum + p.errors, 0),
		latencyMs: { p50: highest('p50'), p75: highest('p75'), p90: highest('p90'), p99: highest('p99'), max: highest('max') },
	}
}

/**
 * archiveCounter counts this run's events in Postgres (rows and distinct ids) and what the store
 * says there should be (seq + 1 per auction: auction.created is seq 0).
 */
async function archiveCounter(databaseUrl: string, prefix: string, auctions: string[]) {
	const { default: postgres } = await import('postgres')
	const { default: Redis } = await import('ioredis')
	const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} })
	const redis = new Redis('redis://127.0.0.1:6379')
	return {
		async count() {
			const [row] = await sql`select count(*)::int as n, count(distinct event_id)::int as ids from bid_events where auction_id = any(${auctions})`
			return { archived: row?.n ?? 0, distinct: row?.ids ?? 0 }
		},
		async expected() {
			const seqs = await Promise.all(auctions.map((id) => redis.hget(`${prefix}:{${id}}`, 'seq')))
			return seqs.reduce((sum, seq) => sum + Number(seq ?? -1) + 1, 0)
		},
		async close() {
			await sql.end({ timeout: 5 })
			await redis.quit()
		},
	}
}
