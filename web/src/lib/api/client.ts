// The one way the app talks to the API: same origin, the session cookie, JSON bodies.
import type {
	ApiToken,
	ApiTokenCreated,
	Collection,
	CollectionSummary,
	Media,
	Page,
	Share,
	ShareCreated,
	TagCount,
	UploadAnswer,
	UploadRequest,
	User
} from './types';

/** An error answer of the API: `{"error": {"code", "message"}}` with its status. */
export class ApiError extends Error {
	constructor(
		readonly status: number,
		readonly code: string,
		message: string
	) {
		super(message);
		this.name = 'ApiError';
	}
}

type Query = Record<string, string | number | undefined | null | readonly string[]>;

export interface RequestOptions {
	query?: Query;
	body?: unknown;
	signal?: AbortSignal;
}

export function queryString(query: Query | undefined): string {
	const params = new URLSearchParams();
	for (const [name, value] of Object.entries(query ?? {})) {
		if (value === undefined || value === null || value === '') continue;
		if (Array.isArray(value)) for (const one of value) params.append(name, one);
		else params.append(name, String(value));
	}
	const text = params.toString();
	return text ? `?${text}` : '';
}

/** Send one request; the parsed JSON (undefined for 204), or ApiError. */
export async function request<T>(
	method: string,
	path: string,
	options: RequestOptions = {},
	fetcher: typeof fetch = fetch
): Promise<T> {
	const headers: Record<string, string> = { Accept: 'application/json' };
	let body: string | undefined;
	if (options.body !== undefined) {
		// JSON only: the API's CSRF defence refuses other content types on cookie requests.
		headers['Content-Type'] = 'application/json';
		body = JSON.stringify(options.body);
	}
	let response: Response;
	try {
		response = await fetcher(path + queryString(options.query), {
			method,
			headers,
			body,
			credentials: 'same-origin',
			signal: options.signal
		});
	} catch (error) {
		if (error instanceof DOMException && error.name === 'AbortError') throw error;
		throw new ApiError(0, 'network', 'The server cannot be reached. Check your connection.');
	}
	if (response.status === 204) return undefined as T;
	const text = await response.text();
	let parsed: unknown = undefined;
	try {
		parsed = text ? JSON.parse(text) : undefined;
	} catch {
		parsed = undefined;
	}
	if (!response.ok) {
		const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
		throw new ApiError(
			response.status,
			error?.code ?? `http_${response.status}`,
			error?.message ?? `The server answered ${response.status}.`
		);
	}
	return parsed as T;
}

export interface MediaQuery {
	limit?: number;
	cursor?: string | null;
	kind?: string;
	status?: string;
	tag?: readonly string[];
	q?: string;
}

const id = encodeURIComponent;

export const api = {
	me: () => request<User>('GET', '/api/auth/me'),
	logout: () => request<void>('POST', '/api/auth/logout'),
	listTokens: (cursor?: string | null) =>
		request<Page<ApiToken>>('GET', '/api/auth/tokens', { query: { cursor, limit: 100 } }),
	createToken: (name: string) => request<ApiTokenCreated>('POST', '/api/auth/tokens', { body: { name } }),
	deleteToken: (tokenId: string) => request<void>('DELETE', `/api/auth/tokens/${id(tokenId)}`),

	createUpload: (body: UploadRequest) => request<UploadAnswer>('POST', '/api/uploads', { body }),
	completeUpload: (mediaId: string, parts?: { part_number: number; etag: string }[]) =>
		request<Media>('POST', `/api/uploads/${id(mediaId)}/complete`, parts ? { body: { parts } } : {}),
	abortUpload: (mediaId: string) => request<void>('DELETE', `/api/uploads/${id(mediaId)}`),

	listMedia: (query: MediaQuery, signal?: AbortSignal) =>
		request<Page<Media>>('GET', '/api/media', { query: { ...query }, signal }),
	getMedia: (mediaId: string, signal?: AbortSignal) =>
		request<Media>('GET', `/api/media/${id(mediaId)}`, { signal }),
	updateMedia: (mediaId: string, body: { title?: string | null; tags?: string[] }) =>
		request<Media>('PATCH', `/api/media/${id(mediaId)}`, { body }),
	deleteMedia: (mediaId: string) => request<void>('DELETE', `/api/media/${id(mediaId)}`),
	retryMedia: (mediaId: string) => request<Media>('POST', `/api/media/${id(mediaId)}/retry`),
	listTags: () => request<Page<TagCount>>('GET', '/api/tags'),

	listCollections: (cursor?: string | null) =>
		request<Page<CollectionSummary>>('GET', '/api/collections', { query: { cursor, limit: 100 } }),
	createCollection: (body: { title: string; description?: string | null }) =>
		request<Collection>('POST', '/api/collections', { body }),
	getCollection: (collectionId: string) =>
		request<Collection>('GET', `/api/collections/${id(collectionId)}`),
	updateCollection: (
		collectionId: string,
		body: { title?: string; description?: string | null; cover_media_id?: string | null }
	) => request<Collection>('PATCH', `/api/collections/${id(collectionId)}`, { body }),
	/** Every item, once, in the new order: one atomic request (409 order_mismatch if stale). */
	setOrder: (collectionId: string, mediaIds: string[]) =>
		request<Collection>('PUT', `/api/collections/${id(collectionId)}/order`, { body: { media_ids: mediaIds } }),
	deleteCollection: (collectionId: string) =>
		request<void>('DELETE', `/api/collections/${id(collectionId)}`),
	addItem: (collectionId: string, mediaId: string) =>
		request<void>('PUT', `/api/collections/${id(collectionId)}/items/${id(mediaId)}`),
	removeItem: (collectionId: string, mediaId: string) =>
		request<void>('DELETE', `/api/collections/${id(collectionId)}/items/${id(mediaId)}`),
	listShares: (collectionId: string) =>
		request<Page<Share>>('GET', `/api/collections/${id(collectionId)}/shares`),
	createShare: (
		collectionId: string,
		body: {
			expires_in_seconds: number | null;
			allow_download: boolean;
			include_location: boolean;
			password: string | null;
		}
	) => request<ShareCreated>('POST', `/api/collections/${id(collectionId)}/shares`, { body }),
	revokeShare: (collectionId: string, shareId: string) =>
		request<void>('DELETE', `/api/collections/${id(collectionId)}/shares/${id(shareId)}`)
};
