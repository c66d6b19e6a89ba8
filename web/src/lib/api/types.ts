// Names for the generated OpenAPI types the app uses (schema.d.ts is generated; never edit it).
import type { components } from './schema';

type Schemas = components['schemas'];

export type User = Schemas['User'];
export type Kind = Schemas['Kind'];
export type Status = Schemas['Status'];
export type UploadRequest = Schemas['UploadRequest'];
export type SingleUpload = Schemas['Upload'];
export type TagCount = Schemas['TagList']['items'][number];
export type CollectionSummary = Schemas['CollectionSummary'];
export type Share = Schemas['Share'];
export type ShareCreated = Schemas['ShareCreated'];
export type ApiTokenCreated = Schemas['ApiTokenCreated'];
export type ApiToken = Schemas['ApiTokenList']['items'][number];

/** One playable rendition, best first (issue 11 adds `sources` to media; older servers lack it). */
export interface MediaSource {
	url: string;
	type: string;
}

export type Media = Schemas['Media'] & { sources?: MediaSource[] };
export type Collection = Omit<Schemas['CollectionSummary'], never> & { items: Media[] };

/** Multipart answer; `size` per part is fixed by the server (issue 10), absent on older ones. */
export type MultipartUpload = Omit<Schemas['MultipartUpload'], 'parts'> & {
	parts: { part_number: number; url: string; size?: number }[];
};
export type UploadAnswer = SingleUpload | MultipartUpload;

export interface Page<T> {
	items: T[];
	next_cursor: string | null;
}

export function isMultipart(answer: UploadAnswer): answer is MultipartUpload {
	return 'upload_id' in answer;
}
