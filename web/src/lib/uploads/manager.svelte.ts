// The upload queue behind the library's drop zone and pickers. Uppy's S3 plugin moves the bytes
// (single PUT, or multipart with parts in parallel); its hooks go to our presign API rather than
// to S3 itself, because the server announces each upload and fixes its URLs and part sizes.
import { api, ApiError } from '../api/client';
import { isMultipart, type Media, type UploadAnswer } from '../api/types';
import { backoffDelay, sleep } from '../backoff';
import { RateMeter, totalProgress } from './progress';
import { InFlightStore, resumable, type InFlight } from './resume';
import { contentTypeOf, DEFAULT_RULES, isHiddenFile, refusal, type UploadRules } from './validate';

import type Uppy from '@uppy/core';
import type { UppyFile } from '@uppy/core';

export type ItemState = 'waiting' | 'uploading' | 'finishing' | 'done' | 'failed' | 'cancelled';

export interface UploadItem {
	key: number;
	name: string;
	size: number;
	state: ItemState;
	bytesUploaded: number;
	rate: number;
	secondsLeft: number | null;
	error: string | null;
	mediaId: string | null;
	multipart: boolean;
}

/** Files that may be announced and uploading at once (each holds a pending row on the server). */
const ACTIVE_FILES = 3;
/** Requests in flight to storage at once, across files: parts of one file go in parallel. */
const PARALLEL_REQUESTS = 6;
const RETRY = { initial: 1000, max: 15_000, jitter: 0.3 };
const RETRIES = 4;

interface Job {
	item: UploadItem;
	file: File;
	answer: UploadAnswer | null;
	parts: { part_number: number; etag: string }[];
	uppyId: string | null;
	meter: RateMeter;
	aborted: boolean;
}

type M = { mediaId: string };
type B = Record<string, never>;
type LoadedUppy = Uppy<M, B>;

function messageOf(error: unknown): string {
	if (error instanceof ApiError) return error.message;
	if (error instanceof Error && error.message) return error.message;
	return 'The upload failed.';
}

function retriable(error: unknown): boolean {
	const status = (error as { source?: { status?: number } } | null)?.source?.status;
	return status === undefined || status === 0 || status === 408 || status === 429 || status >= 500;
}

export class UploadManager {
	items = $state<UploadItem[]>([]);
	refusals = $state<string[]>([]);
	interrupted = $state<InFlight[]>([]);

	#jobs = new Map<number, Job>();
	#byUppyId = new Map<string, Job>();
	#byBlob = new WeakMap<Blob, Job>();
	#nextKey = 1;
	#uppy: Promise<LoadedUppy> | null = null;
	#store: InFlightStore | null = null;

	constructor(
		private readonly onUploaded: (media: Media) => void,
		private readonly rules: UploadRules = DEFAULT_RULES
	) {}

	get total() {
		const active = this.items.filter((i) => i.state !== 'cancelled' && i.state !== 'failed');
		const progress = totalProgress(
			active.map((i) => ({ bytesUploaded: i.bytesUploaded, bytesTotal: i.size }))
		);
		const rate = active.reduce((sum, i) => sum + (i.state === 'uploading' ? i.rate : 0), 0);
		const left = progress.bytesTotal - progress.bytesUploaded;
		return { ...progress, rate, secondsLeft: rate > 0 ? left / rate : null };
	}

	get busy(): boolean {
		return this.items.some((i) => ['waiting', 'uploading', 'finishing'].includes(i.state));
	}

	/** Look for uploads a closed tab left behind: offer to resume them, clean up stale ones. */
	async start(userId: string, storage: Storage): Promise<void> {
		this.#store = new InFlightStore(storage, userId);
		const now = Date.now();
		for (const entry of this.#store.all()) {
			if (!resumable(entry, now)) await this.discard(entry);
		}
		this.interrupted = this.#store.all();
	}

	/** Give an interrupted upload up: the server drops its row and any bytes. */
	async discard(entry: InFlight): Promise<void> {
		try {
			await api.abortUpload(entry.mediaId);
		} catch (error) {
			// Already gone (404) or already finished (409): nothing to clean.
			if (!(error instanceof ApiError) || (error.status !== 404 && error.status !== 409)) throw error;
		}
		this.#store?.remove(entry.mediaId);
		this.interrupted = this.#store?.all() ?? [];
	}

	/** Queue files (from a drop or a picker); refusals are listed, nothing of them is sent. */
	add(files: Iterable<File>): void {
		const refused: string[] = [];
		for (const file of files) {
			if (isHiddenFile(file.name)) continue;
			const reason = refusal(file, this.rules);
			if (reason) {
				refused.push(reason);
				continue;
			}
			const item: UploadItem = {
				key: this.#nextKey++,
				name: file.name,
				size: file.size,
				state: 'waiting',
				bytesUploaded: 0,
				rate: 0,
				secondsLeft: null,
				error: null,
				mediaId: null,
				multipart: false
			};
			this.items.push(item);
			this.#jobs.set(item.key, {
				item: this.items[this.items.length - 1] as UploadItem,
				file,
				answer: null,
				parts: [],
				uppyId: null,
				meter: new RateMeter(),
				aborted: false
			});
		}
		this.refusals = refused;
		this.#pump();
	}

	/** Stop one upload; the server forgets it (row, parts and object). */
	async cancel(key: number): Promise<void> {
		const job = this.#jobs.get(key);
		if (!job || ['done', 'cancelled'].includes(job.item.state)) return;
		job.item.state = 'cancelled';
		job.aborted = true;
		if (job.uppyId && this.#uppy) (await this.#uppy).removeFile(job.uppyId);
		await this.#abortOnServer(job);
		this.#pump();
	}

	async cancelAll(): Promise<void> {
		await Promise.all(this.items.map((item) => this.cancel(item.key)));
	}

	/** Upload a failed file again, from the start. */
	retry(key: number): void {
		const job = this.#jobs.get(key);
		if (!job || job.item.state !== 'failed') return;
		Object.assign(job.item, { state: 'waiting', error: null, bytesUploaded: 0, mediaId: null });
		Object.assign(job, { answer: null, parts: [], uppyId: null, aborted: false, meter: new RateMeter() });
		this.#pump();
	}

	clearFinished(): void {
		this.items = this.items.filter((i) => !['done', 'cancelled'].includes(i.state));
		for (const [key, job] of this.#jobs) if (!this.items.includes(job.item)) this.#jobs.delete(key);
	}

	#pump(): void {
		const jobs = [...this.#jobs.values()];
		let active = jobs.filter((j) => j.item.state === 'uploading' || j.item.state === 'finishing').length;
		for (const job of jobs) {
			if (active >= ACTIVE_FILES) break;
			if (job.item.state !== 'waiting') continue;
			job.item.state = 'uploading';
			active += 1;
			void this.#begin(job);
		}
	}

	async #begin(job: Job): Promise<void> {
		try {
			const resumed = this.#store?.match(job.file);
			if (resumed && resumable(resumed, Date.now())) {
				job.answer = resumed.answer;
				job.parts = resumed.parts;
			} else {
				job.answer = await api.createUpload({
					filename: job.file.name,
					content_type: contentTypeOf(job.file),
					size_bytes: job.file.size
				});
				this.#store?.add({
					mediaId: job.answer.media_id,
					name: job.file.name,
					size: job.file.size,
					lastModified: job.file.lastModified,
					type: contentTypeOf(job.file),
					answer: job.answer,
					parts: [],
					startedAt: Date.now()
				});
			}
			this.interrupted = (this.#store?.all() ?? []).filter(
				(e) => !this.items.some((i) => i.mediaId === e.mediaId) && e.mediaId !== job.answer?.media_id
			);
			job.item.mediaId = job.answer.media_id;
			job.item.multipart = isMultipart(job.answer);
			if (job.aborted) {
				await this.#abortOnServer(job);
				return;
			}
			const uppy = await this.#loadUppy();
			this.#byBlob.set(job.file, job);
			const id = uppy.addFile({
				name: job.file.name,
				type: contentTypeOf(job.file),
				data: job.file,
				meta: { mediaId: job.answer.media_id },
				source: 'mediavault'
			});
			job.uppyId = id;
			this.#byUppyId.set(id, job);
			if (isMultipart(job.answer)) {
				// The server has already created the multipart upload: Uppy resumes it, asking
				// listParts which parts are stored (none, or those a closed tab finished).
				uppy.setFileState(id, { s3Multipart: { uploadId: job.answer.upload_id, key: job.answer.media_id } } as never);
			}
			await uppy.upload();
		} catch (error) {
			await this.#fail(job, error);
		}
	}

	async #fail(job: Job, error: unknown): Promise<void> {
		if (job.aborted || job.item.state === 'cancelled' || job.item.state === 'done') return;
		job.item.state = 'failed';
		job.item.error = messageOf(error);
		job.item.rate = 0;
		job.aborted = true;
		if (job.uppyId && this.#uppy) (await this.#uppy).removeFile(job.uppyId);
		await this.#abortOnServer(job).catch(() => undefined);
		this.#pump();
	}

	async #abortOnServer(job: Job): Promise<void> {
		const mediaId = job.answer?.media_id;
		if (!mediaId) return;
		this.#store?.remove(mediaId);
		try {
			await api.abortUpload(mediaId);
		} catch (error) {
			if (!(error instanceof ApiError) || (error.status !== 404 && error.status !== 409)) throw error;
		}
	}

	async #finish(job: Job, parts?: { part_number: number; etag: string }[]): Promise<void> {
		const mediaId = job.answer?.media_id;
		if (!mediaId || job.aborted) return;
		job.item.state = 'finishing';
		const media = await api.completeUpload(mediaId, parts);
		job.item.state = 'done';
		job.item.bytesUploaded = job.item.size;
		job.item.rate = 0;
		job.item.secondsLeft = 0;
		this.#store?.remove(mediaId);
		this.onUploaded(media);
		this.#pump();
	}

	#job(file: UppyFile<M, B> | undefined): Job {
		const job = file ? this.#byUppyId.get(file.id) : undefined;
		if (!job?.answer) throw new Error('unknown upload');
		return job;
	}

	#loadUppy(): Promise<LoadedUppy> {
		// Loaded on the first upload: the library page does not pay for it.
		this.#uppy ??= (async () => {
			const [{ default: Uppy }, { default: AwsS3 }] = await Promise.all([
				import('@uppy/core'),
				import('@uppy/aws-s3')
			]);
			const uppy = new Uppy<M, B>({ autoProceed: false, allowMultipleUploadBatches: true });
			const defaultSend = AwsS3.uploadPartBytes;
			uppy.use(AwsS3<M, B>, {
				limit: PARALLEL_REQUESTS,
				retryDelays: [],
				shouldUseMultipart: (file) => isMultipart(this.#job(file).answer as UploadAnswer),
				getChunkSize: (data) => {
					const answer = this.#byBlob.get(data as Blob)?.answer;
					return answer && isMultipart(answer) ? answer.part_size : 5 * 1024 * 1024;
				},
				getUploadParameters: (file) => {
					const answer = this.#job(file).answer as UploadAnswer;
					if (isMultipart(answer)) throw new Error('expected a single PUT');
					return { method: 'PUT', url: answer.url, headers: answer.headers };
				},
				createMultipartUpload: (file) => {
					const answer = this.#job(file).answer as UploadAnswer;
					if (!isMultipart(answer)) throw new Error('expected a multipart upload');
					return { uploadId: answer.upload_id, key: answer.media_id };
				},
				listParts: (file) =>
					this.#job(file).parts.map((p) => ({ PartNumber: p.part_number, ETag: p.etag })),
				signPart: (file, { partNumber, body }) => {
					const answer = this.#job(file).answer as UploadAnswer;
					const part = isMultipart(answer) ? answer.parts[partNumber - 1] : undefined;
					if (!part) throw new Error(`the server gave no URL for part ${partNumber}`);
					if (part.size !== undefined && part.size !== body.size) {
						throw new Error(`part ${partNumber} would be ${body.size} bytes, not ${part.size}`);
					}
					return { url: part.url, method: 'PUT' };
				},
				completeMultipartUpload: async (file, { parts }) => {
					const job = this.#job(file);
					const list = parts
						.map((p) => ({ part_number: p.PartNumber as number, etag: p.ETag as string }))
						.sort((a, b) => a.part_number - b.part_number);
					await this.#finish(job, list);
					return {};
				},
				abortMultipartUpload: async (file) => {
					await this.#abortOnServer(this.#job(file));
				},
				uploadPartBytes: async (options) => {
					// Each request to storage is retried with backoff on network and server errors.
					for (let attempt = 0; ; attempt++) {
						try {
							return await defaultSend(options);
						} catch (error) {
							const aborted = options.signal?.aborted || (error as Error)?.name === 'AbortError';
							if (aborted || attempt >= RETRIES || !retriable(error)) throw error;
							await sleep(backoffDelay(attempt, RETRY), options.signal);
						}
					}
				}
			});
			uppy.on('upload-progress', (file, progress) => {
				const job = file && this.#byUppyId.get(file.id);
				if (!job || job.item.state !== 'uploading') return;
				const done = progress.bytesUploaded ?? 0;
				job.meter.update(done, performance.now());
				job.item.bytesUploaded = done;
				job.item.rate = job.meter.rate;
				job.item.secondsLeft = job.meter.secondsLeft(job.item.size);
			});
			uppy.on('s3-multipart:part-uploaded', (file, part) => {
				const job = this.#byUppyId.get(file.id);
				const mediaId = job?.answer?.media_id;
				if (!job || !mediaId) return;
				const done = { part_number: part.PartNumber, etag: part.ETag };
				job.parts.push(done);
				this.#store?.partDone(mediaId, done);
			});
			uppy.on('upload-success', (file) => {
				const job = file && this.#byUppyId.get(file.id);
				if (!job || job.item.multipart) return;
				this.#finish(job).catch((error) => this.#fail(job, error));
			});
			uppy.on('upload-error', (file, error) => {
				const job = file && this.#byUppyId.get(file.id);
				if (job) void this.#fail(job, error);
			});
			return uppy;
		})();
		return this.#uppy;
	}
}
