/**
 * The task sizes Fargate accepts (vCPU units → MiB, AWS ECS developer guide "Task CPU and memory").
 * Any other pair makes RegisterTaskDefinition fail halfway through `pulumi up`.
 */
const FARGATE_MEMORY: Record<number, { min: number; max: number; step: number } | number[]> = {
	256: [512, 1024, 2048],
	512: { min: 1024, max: 4096, step: 1024 },
	1024: { min: 2048, max: 8192, step: 1024 },
	2048: { min: 4096, max: 16384, step: 1024 },
	4096: { min: 8192, max: 30720, step: 1024 },
	8192: { min: 16384, max: 61440, step: 4096 },
	16384: { min: 32768, max: 122880, step: 8192 },
}

export function isFargateSize(cpu: number, memory: number): boolean {
	const allowed = FARGATE_MEMORY[cpu]
	if (allowed === undefined) return false
	if (Array.isArray(allowed)) return allowed.includes(memory)
	return memory >= allowed.min && memory <= allowed.max && (memory - allowed.min) % allowed.step === 0
}

/** checkFargateSize refuses, at preview, a cpu/memory pair Fargate would refuse at deploy. */
export function checkFargateSize(what: string, cpu: number, memory: number): void {
	if (!isFargateSize(cpu, memory))
		throw new Error(
			`${what}: cpu ${cpu} / memory ${memory} is not a Fargate task size (cpu 256, 512, 1024, 2048, 4096, 8192 or 16384 with a memory Fargate allows for it)`,
		)
}
