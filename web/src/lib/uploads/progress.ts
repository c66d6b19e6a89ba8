// Speed and time left for uploads, smoothed so the numbers do not jump with every progress event.

export class RateMeter {
	#lastBytes = 0;
	#lastTime: number | null = null;
	#rate = 0;

	/** `halfLife`: ms after which an old rate counts half. */
	constructor(private readonly halfLife = 2000) {}

	/** Record the bytes done so far at time `now` (ms). */
	update(bytes: number, now: number): void {
		if (this.#lastTime === null) {
			this.#lastTime = now;
			this.#lastBytes = bytes;
			return;
		}
		const elapsed = now - this.#lastTime;
		if (elapsed <= 0) return;
		const instant = (Math.max(0, bytes - this.#lastBytes) * 1000) / elapsed;
		const weight = 1 - 0.5 ** (elapsed / this.halfLife);
		this.#rate = this.#rate === 0 ? instant : this.#rate + weight * (instant - this.#rate);
		this.#lastTime = now;
		this.#lastBytes = bytes;
	}

	/** Bytes per second (0 until two updates). */
	get rate(): number {
		return this.#rate;
	}

	/** Seconds until `total` at the current rate; null when unknown. */
	secondsLeft(total: number): number | null {
		if (this.#rate <= 0) return null;
		return Math.max(0, total - this.#lastBytes) / this.#rate;
	}
}

export interface FileProgress {
	bytesUploaded: number;
	bytesTotal: number;
}

/** Sum of every file's progress: the total bar. */
export function totalProgress(files: Iterable<FileProgress>): FileProgress & { fraction: number } {
	let bytesUploaded = 0;
	let bytesTotal = 0;
	for (const file of files) {
		bytesUploaded += Math.min(file.bytesUploaded, file.bytesTotal);
		bytesTotal += file.bytesTotal;
	}
	return { bytesUploaded, bytesTotal, fraction: bytesTotal > 0 ? bytesUploaded / bytesTotal : 0 };
}
