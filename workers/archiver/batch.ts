/** The timer functions the batcher uses; tests pass a fake clock. */
export interface Timers {
	set(fn: () => void, ms: number): unknown
	clear(handle: unknown): void
}

export const realTimers: Timers = {
	set: (fn, ms) => setTimeout(fn, ms),
	clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
}

export interface BatcherOptions<T> {
	/** A batch is cut as soon as it holds this many items. */
	maxSize: number
	/** …or when its first item has waited this long. */
	maxWaitMs: number
	/**
	 * How many batches may be flushing at once (default 1). Batches start in order; with more
	 * than one they may finish out of order.
	 */
	concurrency?: number
	/**
	 * Writes one batch. It should deal with its own failures (retry, dead-letter); a rejection
	 * is handed to `onError` and the batch is dropped.
	 */
	flush(items: T[]): Promise<void>
	onError?(err: unknown): void
	timers?: Timers
}

export interface Batcher<T> {
	/**
	 * add queues an item. It returns a promise when the caller should wait before adding more
	 * (a full batch is queued behind `concurrency` flushes), otherwise undefined: one batch
	 * fills while the previous ones are written, and never more than that.
	 */
	add(item: T): Promise<void> | undefined
	/** Cuts what is pending now and resolves when everything added so far is flushed. */
	drain(): Promise<void>
	/** Items added and not yet handed to `flush`. */
	readonly pending: number
	/** Whether any flush is running. */
	readonly flushing: boolean
}

/**
 * createBatcher groups items into batches of at most `maxSize`, cut when full or `maxWaitMs`
 * after the first item arrived, and hands them to `flush`, at most `concurrency` at a time.
 * Pure: no I/O of its own, time comes from `timers`.
 */
export function createBatcher<T>(options: BatcherOptions<T>): Batcher<T> {
	const { maxSize, maxWaitMs, flush } = options
	const concurrency = Math.max(1, options.concurrency ?? 1)
	const timers = options.timers ?? realTimers
	const onError = options.onError ?? (() => {})
	let pending: T[] = []
	let running = 0 // flushes in progress
	let timer: unknown = null
	let due = false // the oldest pending item has waited maxWaitMs
	let roomWaiters: Array<() => void> = []
	let idleWaiters: Array<() => void> = []

	const arm = () => {
		if (timer !== null || pending.length === 0) return
		timer = timers.set(() => {
			timer = null
			due = true
			if (running < concurrency) cut()
		}, maxWaitMs)
	}

	const cut = () => {
		if (timer !== null) timers.clear(timer)
		timer = null
		due = false
		const items = pending.length <= maxSize ? pending : pending.slice(0, maxSize)
		pending = pending.length <= maxSize ? [] : pending.slice(maxSize)
		running++
		void flush(items).then(undefined, onError).then(afterFlush)
		if (pending.length >= maxSize && running < concurrency) return cut()
		if (pending.length < maxSize) {
			const waiters = roomWaiters
			roomWaiters = []
			for (const resolve of waiters) resolve()
		}
		arm() // items left over start their own wait now
	}

	const afterFlush = () => {
		running--
		if (pending.length >= maxSize || (due && pending.length > 0)) cut()
		else if (pending.length === 0 && running === 0) {
			const waiters = idleWaiters
			idleWaiters = []
			for (const resolve of waiters) resolve()
		}
	}

	return {
		add(item) {
			pending.push(item)
			if (pending.length < maxSize) {
				arm()
				return undefined
			}
			if (running < concurrency) {
				cut()
				return undefined
			}
			return new Promise<void>((resolve) => roomWaiters.push(resolve))
		},
		drain() {
			if (running === 0 && pending.length === 0) return Promise.resolve()
			const idle = new Promise<void>((resolve) => idleWaiters.push(resolve))
			due = true
			if (running < concurrency && pending.length > 0) cut()
			return idle
		},
		get pending() {
			return pending.length
		},
		get flushing() {
			return running > 0
		},
	}
}
