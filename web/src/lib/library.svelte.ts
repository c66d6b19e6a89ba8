// The library's items: cursor pages as the person scrolls, and the processing state of items
// that are not final polled with backoff (no long-lived connection to a scale-to-zero function).
import { api } from './api/client';
import type { Media } from './api/types';
import { PollSchedule, sleep } from './backoff';
import { mediaQuery, NO_FILTERS, type LibraryFilters } from './filters';

const PAGE = 60;
const POLL = { initial: 1500, max: 20_000, factor: 1.6, jitter: 0.2 };
const WATCH_AT_ONCE = 24;

export function isFinal(media: Media): boolean {
	return media.status === 'ready' || media.status === 'failed';
}

export class Library {
	// Raw: items are replaced, never changed in place, and a deep proxy per item would cost the
	// heap more than the items themselves in a library scrolled through thousands.
	items = $state.raw<Media[]>([]);
	loading = $state(false);
	done = $state(false);
	error = $state<string | null>(null);
	filters = $state<LibraryFilters>(NO_FILTERS);

	#cursor: string | null = null;
	#generation = 0;
	#controller: AbortController | null = null;
	#polling: AbortController | null = null;

	/** Start over with new filters. */
	reset(filters: LibraryFilters): void {
		this.#controller?.abort();
		this.#generation += 1;
		this.filters = filters;
		this.items = [];
		this.#cursor = null;
		this.done = false;
		this.loading = false;
		this.error = null;
		void this.more();
	}

	/** Fetch the next page (no-op while one is loading or after the last). */
	async more(): Promise<void> {
		if (this.loading || this.done) return;
		const generation = this.#generation;
		this.loading = true;
		this.#controller = new AbortController();
		try {
			const page = await api.listMedia(
				mediaQuery(this.filters, this.#cursor, PAGE),
				this.#controller.signal
			);
			if (generation !== this.#generation) return;
			const known = new Set(this.items.map((m) => m.id));
			this.items = [...this.items, ...page.items.filter((m) => !known.has(m.id))];
			this.#cursor = page.next_cursor;
			this.done = page.next_cursor === null;
			this.error = null;
		} catch (error) {
			if (generation !== this.#generation || (error as Error).name === 'AbortError') return;
			this.error = error instanceof Error ? error.message : 'Could not load the library.';
		} finally {
			if (generation === this.#generation) this.loading = false;
		}
	}

	/** A new upload goes first (newest first), whatever the filters would say of it later. */
	prepend(media: Media): void {
		this.items = [media, ...this.items.filter((m) => m.id !== media.id)];
	}

	replace(media: Media): void {
		if (this.items.some((m) => m.id === media.id))
			this.items = this.items.map((m) => (m.id === media.id ? media : m));
	}

	remove(id: string): void {
		this.items = this.items.filter((m) => m.id !== id);
	}

	/** Poll items that are not final until they are, faster right after a change. */
	startPolling(): () => void {
		this.#polling?.abort();
		const controller = new AbortController();
		this.#polling = controller;
		const schedule = new PollSchedule(POLL);
		void (async () => {
			let changed = true;
			while (!controller.signal.aborted) {
				try {
					await sleep(schedule.next(changed), controller.signal);
				} catch {
					return;
				}
				changed = await this.#pollOnce(controller.signal);
			}
		})();
		return () => controller.abort();
	}

	async #pollOnce(signal: AbortSignal): Promise<boolean> {
		const watched = this.items.filter((m) => !isFinal(m)).slice(0, WATCH_AT_ONCE);
		let changed = false;
		await Promise.all(
			watched.map(async (before) => {
				try {
					const after = await api.getMedia(before.id, signal);
					if (
						after.status !== before.status ||
						after.processing.progress !== before.processing.progress
					) {
						this.replace(after);
						changed = true;
					}
				} catch (error) {
					// Gone (deleted elsewhere, or an abandoned upload cleaned up): drop it.
					if ((error as { status?: number }).status === 404) {
						this.remove(before.id);
						changed = true;
					}
				}
			})
		);
		return changed;
	}
}
