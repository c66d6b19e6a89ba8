// The library's filters, kept in the page URL so that they survive reloads and can be shared.
import type { MediaQuery } from './api/client';

export const KINDS = ['video', 'image', 'audio', 'other'] as const;
export const STATUSES = ['pending', 'processing', 'ready', 'failed'] as const;

export interface LibraryFilters {
	kind: string;
	status: string;
	tags: string[];
	q: string;
}

export const NO_FILTERS: LibraryFilters = { kind: '', status: '', tags: [], q: '' };

function oneOf(value: string | null, allowed: readonly string[]): string {
	return value && allowed.includes(value) ? value : '';
}

/** Filters from a URL's search parameters; unknown values are ignored. */
export function filtersFromParams(params: URLSearchParams): LibraryFilters {
	const tags = [...new Set(params.getAll('tag').map((t) => t.trim()).filter(Boolean))].slice(0, 50);
	return {
		kind: oneOf(params.get('kind'), KINDS),
		status: oneOf(params.get('status'), STATUSES),
		tags,
		q: (params.get('q') ?? '').slice(0, 200)
	};
}

/** The search parameters for some filters (empty ones left out). */
export function filtersToParams(filters: LibraryFilters): URLSearchParams {
	const params = new URLSearchParams();
	if (filters.kind) params.set('kind', filters.kind);
	if (filters.status) params.set('status', filters.status);
	for (const tag of filters.tags) params.append('tag', tag);
	if (filters.q.trim()) params.set('q', filters.q.trim());
	return params;
}

/** The `GET /api/media` query of some filters. */
export function mediaQuery(filters: LibraryFilters, cursor: string | null, limit: number): MediaQuery {
	return {
		limit,
		cursor,
		kind: filters.kind || undefined,
		status: filters.status || undefined,
		tag: filters.tags.length ? filters.tags : undefined,
		q: filters.q.trim() || undefined
	};
}

export function sameFilters(a: LibraryFilters, b: LibraryFilters): boolean {
	return filtersToParams(a).toString() === filtersToParams(b).toString();
}

/** Tags typed as "a, b ,c" → ["a", "b", "c"], each once, in order. */
export function parseTags(text: string): string[] {
	return [...new Set(text.split(',').map((t) => t.trim()).filter(Boolean))];
}
