// Delays that grow: polling the processing state and retrying uploads, without hammering a
// scale-to-zero function or a struggling network.

export interface BackoffOptions {
	/** The first delay, in ms. */
	initial: number;
	/** The delay never grows past this. */
	max: number;
	/** Growth per attempt. */
	factor?: number;
	/** 0..1: share of the delay drawn at random, so many clients do not retry in step. */
	jitter?: number;
}

/** The delay before attempt `attempt` (0-based); `random` in [0, 1). */
export function backoffDelay(
	attempt: number,
	options: BackoffOptions,
	random: () => number = Math.random
): number {
	const factor = options.factor ?? 2;
	const base = Math.min(options.max, options.initial * factor ** Math.max(0, attempt));
	const jitter = options.jitter ?? 0;
	return Math.round(base * (1 - jitter + jitter * random()));
}

/**
 * Polls while there is something to watch: quick at first, slower while nothing changes,
 * quick again as soon as something does.
 */
export class PollSchedule {
	#attempt = 0;

	constructor(private readonly options: BackoffOptions) {}

	/** The delay before the next poll, given whether the last one saw a change. */
	next(changed: boolean, random?: () => number): number {
		if (changed) this.#attempt = 0;
		const delay = backoffDelay(this.#attempt, this.options, random);
		this.#attempt += 1;
		return delay;
	}

	reset(): void {
		this.#attempt = 0;
	}
}

/** Resolves after `ms`, or rejects at once when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
	return new Promise((resolve, reject) => {
		if (signal?.aborted) {
			reject(signal.reason);
			return;
		}
		const timer = setTimeout(() => {
			signal?.removeEventListener('abort', onAbort);
			resolve();
		}, ms);
		function onAbort() {
			clearTimeout(timer);
			reject(signal?.reason);
		}
		signal?.addEventListener('abort', onAbort, { once: true });
	});
}
