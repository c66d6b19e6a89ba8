// Uploads in flight, remembered in localStorage: after the tab was closed, each one can be
// resumed (the same file picked again, while its presigned URLs last) or is cleaned up.
import type { UploadAnswer } from '../api/types';

export interface InFlight {
	mediaId: string;
	name: string;
	size: number;
	lastModified: number;
	type: string;
	answer: UploadAnswer;
	/** Parts already stored (multipart only): skipped on resume. */
	parts: { part_number: number; etag: string }[];
	startedAt: number;
}

const KEY = 'mediavault.uploads.v1';
// localStorage holds a few MB; an answer with thousands of part URLs is not worth keeping.
const MAX_ENTRY_CHARS = 256 * 1024;

type KeyValue = Pick<Storage, 'getItem' | 'setItem'>;

export class InFlightStore {
	constructor(
		private readonly storage: KeyValue,
		private readonly userId: string
	) {}

	#key(): string {
		return `${KEY}.${this.userId}`;
	}

	all(): InFlight[] {
		try {
			const parsed: unknown = JSON.parse(this.storage.getItem(this.#key()) ?? '[]');
			return Array.isArray(parsed) ? (parsed as InFlight[]) : [];
		} catch {
			return [];
		}
	}

	#write(entries: InFlight[]): void {
		try {
			this.storage.setItem(this.#key(), JSON.stringify(entries));
		} catch {
			// Storage full or denied: resuming is a convenience, the upload itself goes on.
		}
	}

	/** Remember an upload that has started; false when it is too large to keep. */
	add(entry: InFlight): boolean {
		if (JSON.stringify(entry).length > MAX_ENTRY_CHARS) return false;
		this.#write([...this.all().filter((e) => e.mediaId !== entry.mediaId), entry]);
		return true;
	}

	partDone(mediaId: string, part: { part_number: number; etag: string }): void {
		this.#write(
			this.all().map((e) =>
				e.mediaId === mediaId
					? { ...e, parts: [...e.parts.filter((p) => p.part_number !== part.part_number), part] }
					: e
			)
		);
	}

	remove(mediaId: string): void {
		this.#write(this.all().filter((e) => e.mediaId !== mediaId));
	}

	/** The remembered upload this file continues, if any (same name, size and date). */
	match(file: { name: string; size: number; lastModified: number }): InFlight | undefined {
		return this.all().find(
			(e) => e.name === file.name && e.size === file.size && e.lastModified === file.lastModified
		);
	}
}

/** True while the upload's presigned URLs still work (with a minute to spare). */
export function resumable(entry: InFlight, now: number): boolean {
	return Date.parse(entry.answer.expires_at) - now > 60_000;
}
