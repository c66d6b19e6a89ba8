// A collection's order is sent whole (PUT /order, one atomic request); these compute it and the
// cover the server will show, so the page can mark it without another request.

import type { Media } from './api/types';

/** `ids` with the item at `from` moved to `to`. */
export function moved<T>(ids: readonly T[], from: number, to: number): T[] {
	const copy = [...ids];
	if (from < 0 || from >= copy.length) return copy;
	const target = Math.max(0, Math.min(copy.length - 1, to));
	const [item] = copy.splice(from, 1);
	copy.splice(target, 0, item as T);
	return copy;
}

type CoverCandidate = Pick<Media, 'id' | 'status'> & { urls: Pick<Media['urls'], 'thumbnail'> };

/** The id of the item shown as cover: the chosen one while ready with a thumbnail, else the first such. */
export function shownCover(items: readonly CoverCandidate[], chosen: string | null): string | null {
	const usable = (m: CoverCandidate) => m.status === 'ready' && !!m.urls.thumbnail;
	const picked = items.find((m) => m.id === chosen && usable(m));
	return (picked ?? items.find(usable))?.id ?? null;
}
