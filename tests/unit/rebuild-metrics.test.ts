// A store rebuilt from the archive is counted (and alarmed on in the AWS stack): the store had lost
// its epoch, which means a Redis restarted empty or flushed.
import { expect, test } from 'bun:test'
import { createRebuilder } from '../../src/archive/rebuild.ts'
import { createMemoryBidStore } from '../../src/adapters/memory/bid-store.ts'
import { createMetrics } from '../../src/observability/metrics.ts'
import { silentLogger } from '../../src/observability/log.ts'
import type { Archive } from '../../src/ports/archive.ts'

const rebuilderOn = (restorables: Archive['restorables'], metrics = createMetrics()) => ({
	metrics,
	rebuilder: createRebuilder({
		store: createMemoryBidStore(),
		archive: { restorables },
		log: silentLogger(),
		metrics,
		eventsKept: 100,
		idempotencyTtlMs: 60_000,
		closedKeptMs: 60_000,
	}),
})

const value = async (metrics: ReturnType<typeof createMetrics>, name: string, labels: Record<string, string> = {}) => {
	const metric = await metrics.registry.getSingleMetric(name)?.get()
	return metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0
}

test('a rebuild counts as rebuilt once, the gauge says 1 while it runs; a store that has its epoch is not rebuilt again', async () => {
	let release = () => {}
	const held = new Promise<void>((resolve) => (release = resolve))
	const { metrics, rebuilder } = rebuilderOn(async () => {
		await held
		return []
	})
	// Exported at 0 before any rebuild: a delta-converting collector needs the baseline.
	const before = await metrics.registry.getSingleMetric('gavel_store_rebuilds_total')?.get()
	expect(before?.values.map((v) => [v.labels.result, v.value]).sort()).toEqual([['failed', 0], ['rebuilt', 0]])
	const done = rebuilder.ensure()
	await Bun.sleep(0)
	expect(await value(metrics, 'gavel_store_rebuilding')).toBe(1)
	release()
	expect(await done).toMatchObject({ restored: 0 })
	expect(await value(metrics, 'gavel_store_rebuilding')).toBe(0)
	expect(await value(metrics, 'gavel_store_rebuilds_total', { result: 'rebuilt' })).toBe(1)
	expect(await rebuilder.ensure()).toBeNull()
	expect(await value(metrics, 'gavel_store_rebuilds_total', { result: 'rebuilt' })).toBe(1)
	expect(await value(metrics, 'gavel_store_rebuilds_total', { result: 'failed' })).toBe(0)
})

test('a rebuild the archive fails counts as failed, and the gauge goes back to 0', async () => {
	const { metrics, rebuilder } = rebuilderOn(async () => {
		throw new Error('archive down')
	})
	await expect(rebuilder.ensure()).rejects.toThrow('archive down')
	expect(await value(metrics, 'gavel_store_rebuilds_total', { result: 'failed' })).toBe(1)
	expect(await value(metrics, 'gavel_store_rebuilds_total', { result: 'rebuilt' })).toBe(0)
	expect(await value(metrics, 'gavel_store_rebuilding')).toBe(0)
})

test('every dead-letter reason is exported at 0 before the first one, for the same collector', async () => {
	const metric = await createMetrics().registry.getSingleMetric('gavel_archive_dead_letters_total')?.get()
	expect(metric?.values.map((v) => [v.labels.reason, v.value]).sort()).toEqual(
		[['invalid', 0], ['max-deliveries', 0], ['rejected', 0], ['seq-conflict', 0], ['undecodable', 0]],
	)
})
