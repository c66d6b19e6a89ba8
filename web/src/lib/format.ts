// How numbers reach people: sizes, speeds, durations and times left.

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

/** 1536 → "1.5 KB" (binary multiples, one decimal below 10). */
export function formatBytes(bytes: number): string {
	if (!Number.isFinite(bytes) || bytes < 0) return '–';
	let value = bytes;
	let unit = 0;
	while (value >= 1024 && unit < UNITS.length - 1) {
		value /= 1024;
		unit += 1;
	}
	const digits = unit === 0 || value >= 10 ? 0 : 1;
	return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

/** Bytes per second → "2.4 MB/s". */
export function formatSpeed(bytesPerSecond: number): string {
	if (!Number.isFinite(bytesPerSecond) || bytesPerSecond <= 0) return '–';
	return `${formatBytes(bytesPerSecond)}/s`;
}

/** Seconds → "1:05:09", "4:02" or "0:07". */
export function formatClock(totalSeconds: number): string {
	if (!Number.isFinite(totalSeconds) || totalSeconds < 0) return '–';
	const seconds = Math.round(totalSeconds);
	const h = Math.floor(seconds / 3600);
	const m = Math.floor((seconds % 3600) / 60);
	const s = seconds % 60;
	const ss = String(s).padStart(2, '0');
	return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Time left as words: "about 3 min left", "12 s left". */
export function formatTimeLeft(seconds: number | null): string {
	if (seconds === null || !Number.isFinite(seconds)) return '';
	if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s left`;
	if (seconds < 3600) return `about ${Math.round(seconds / 60)} min left`;
	return `about ${(seconds / 3600).toFixed(1)} h left`;
}

/** A date as the reader's locale shows it. */
export function formatDate(iso: string | null | undefined, locale?: string): string {
	if (!iso) return 'never';
	const date = new Date(iso);
	if (Number.isNaN(date.getTime())) return '–';
	return date.toLocaleString(locale, { dateStyle: 'medium', timeStyle: 'short' });
}

/** The name a media shows: its title, else its file name. */
export function displayName(media: { title: string | null; filename: string }): string {
	return media.title?.trim() || media.filename;
}
