// Refusals shown before any byte is sent: the same rules the API applies (ALLOWED_CONTENT_TYPES,
// MAX_UPLOAD_BYTES), so a person learns at once instead of after a round trip.

export interface UploadRules {
	allowedTypes: readonly string[];
	maxBytes: number;
}

export const DEFAULT_RULES: UploadRules = {
	allowedTypes: ['image/*', 'video/*', 'audio/*'],
	maxBytes: 10 * 1024 ** 3
};

// Browsers leave `type` empty for some files; these extensions are common in camera rolls.
const BY_EXTENSION: Record<string, string> = {
	mp4: 'video/mp4', m4v: 'video/mp4', mov: 'video/quicktime', mkv: 'video/x-matroska',
	webm: 'video/webm', avi: 'video/x-msvideo', jpg: 'image/jpeg', jpeg: 'image/jpeg',
	png: 'image/png', gif: 'image/gif', webp: 'image/webp', heic: 'image/heic', heif: 'image/heif',
	avif: 'image/avif', mp3: 'audio/mpeg', m4a: 'audio/mp4', wav: 'audio/wav', flac: 'audio/flac',
	ogg: 'audio/ogg', opus: 'audio/ogg'
};

/** The file's media type: the browser's, else one from its extension, else ''. */
export function contentTypeOf(file: { name: string; type: string }): string {
	const given = file.type.split(';')[0]?.trim().toLowerCase() ?? '';
	if (given) return given;
	const extension = file.name.toLowerCase().split('.').pop() ?? '';
	return BY_EXTENSION[extension] ?? '';
}

function allowed(type: string, pattern: string): boolean {
	const p = pattern.trim().toLowerCase();
	return p.endsWith('/*') ? type.startsWith(p.slice(0, -1)) : type === p;
}

/** Why a file cannot be uploaded, in words for its owner; null when it can. */
export function refusal(file: { name: string; type: string; size: number }, rules: UploadRules): string | null {
	const type = contentTypeOf(file);
	if (!type || !rules.allowedTypes.some((pattern) => allowed(type, pattern))) {
		const what = type || 'this kind of file';
		return `${file.name}: ${what} cannot be uploaded here — only photos, videos and audio.`;
	}
	if (file.size === 0) return `${file.name}: the file is empty.`;
	if (file.size > rules.maxBytes) {
		return `${file.name}: too large (the limit is ${Math.floor(rules.maxBytes / 1024 ** 2)} MB).`;
	}
	return null;
}

/** Files from a folder drop/picker include hidden files (.DS_Store): they are skipped silently. */
export function isHiddenFile(name: string): boolean {
	return name.startsWith('.');
}
