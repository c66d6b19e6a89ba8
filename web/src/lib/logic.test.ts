import { describe, expect, it } from 'vitest';
import { queryString, request, ApiError } from './api/client';
import type { Media } from './api/types';
import { backoffDelay, PollSchedule } from './backoff';
import { filtersFromParams, filtersToParams, mediaQuery, parseTags } from './filters';
import { formatBytes, formatClock, formatTimeLeft } from './format';
import { gridGeometry, nearEnd, rowCount, visibleRows } from './grid';
import { moved, shownCover } from './order';
import { RateMeter, totalProgress } from './uploads/progress';
import { InFlightStore, resumable, type InFlight } from './uploads/resume';
import { contentTypeOf, DEFAULT_RULES, refusal } from './uploads/validate';
import { videoSources } from './video';

describe('format', () => {
	it('sizes, clocks and time left', () => {
		expect(formatBytes(0)).toBe('0 B');
		expect(formatBytes(1536)).toBe('1.5 KB');
		expect(formatBytes(500 * 1024 ** 2)).toBe('500 MB');
		expect(formatClock(65)).toBe('1:05');
		expect(formatClock(3725)).toBe('1:02:05');
		expect(formatTimeLeft(12.2)).toBe('12 s left');
		expect(formatTimeLeft(null)).toBe('');
	});
});

describe('backoff', () => {
	it('grows to its maximum, with bounded jitter', () => {
		const options = { initial: 1000, max: 8000 };
		expect([0, 1, 2, 3, 4].map((a) => backoffDelay(a, options))).toEqual([1000, 2000, 4000, 8000, 8000]);
		const jittered = backoffDelay(2, { ...options, jitter: 0.5 }, () => 0);
		expect(jittered).toBe(2000);
	});
	it('polls fast again after a change', () => {
		const schedule = new PollSchedule({ initial: 100, max: 1000 });
		expect([false, false, false].map((c) => schedule.next(c))).toEqual([100, 200, 400]);
		expect(schedule.next(true)).toBe(100);
	});
});

describe('filters', () => {
	it('round-trip through the URL and drop unknown values', () => {
		const filters = filtersFromParams(new URLSearchParams('kind=video&status=bogus&tag=a&tag=b&tag=a&q=%20x%20'));
		expect(filters).toEqual({ kind: 'video', status: '', tags: ['a', 'b'], q: ' x ' });
		expect(filtersToParams(filters).toString()).toBe('kind=video&tag=a&tag=b&q=x');
		expect(mediaQuery(filters, 'c1', 60)).toEqual({ limit: 60, cursor: 'c1', kind: 'video', status: undefined, tag: ['a', 'b'], q: 'x' });
		expect(parseTags(' beach, sun ,beach,, ')).toEqual(['beach', 'sun']);
	});
	it('repeat tag parameters in the API query', () => {
		expect(queryString({ tag: ['a b', 'c'], limit: 5, cursor: null })).toBe('?tag=a+b&tag=c&limit=5');
	});
});

describe('grid', () => {
	it('fits columns and keeps the DOM to the rows in view', () => {
		const g = gridGeometry(1000, 180, 8);
		expect(g.columns).toBe(5);
		expect(g.cellWidth).toBeCloseTo((1000 - 32) / 5);
		const rows = rowCount(10_000, g.columns);
		const range = visibleRows(50_000, 800, g.rowHeight, rows, 2);
		expect(range.last - range.first + 1).toBeLessThanOrEqual(Math.ceil(800 / g.rowHeight) + 5);
		expect(nearEnd(range, rows)).toBe(false);
		expect(nearEnd(visibleRows(rows * g.rowHeight - 800, 800, g.rowHeight, rows), rows)).toBe(true);
		expect(gridGeometry(390 - 32, 110, 8).columns).toBe(3);
	});
});

describe('collection order', () => {
	it('moves one item within bounds', () => {
		expect(moved(['a', 'b', 'c', 'd'], 2, 0)).toEqual(['c', 'a', 'b', 'd']);
		expect(moved(['a', 'b', 'c'], 0, 9)).toEqual(['b', 'c', 'a']);
		expect(moved(['a', 'b'], 5, 0)).toEqual(['a', 'b']);
	});
	it('shows the chosen cover while it is usable, else the first ready item', () => {
		const item = (id: string, status: Media['status'], thumbnail: string | null = 't') => ({ id, status, urls: { thumbnail } });
		const items = [item('a', 'processing'), item('b', 'ready', null), item('c', 'ready'), item('d', 'ready')];
		expect(shownCover(items, null)).toBe('c');
		expect(shownCover(items, 'd')).toBe('d');
		expect(shownCover(items, 'a')).toBe('c');
		expect(shownCover(items, 'gone')).toBe('c');
		expect(shownCover([item('a', 'failed')], null)).toBeNull();
	});
});

describe('uploads', () => {
	it('refuses types and sizes before any byte', () => {
		expect(refusal({ name: 'notes.txt', type: 'text/plain', size: 10 }, DEFAULT_RULES)).toMatch(/cannot be uploaded/);
		expect(refusal({ name: 'a.exe', type: '', size: 10 }, DEFAULT_RULES)).toMatch(/cannot be uploaded/);
		expect(refusal({ name: 'big.mp4', type: 'video/mp4', size: 11 * 1024 ** 3 }, DEFAULT_RULES)).toMatch(/too large/);
		expect(refusal({ name: 'empty.jpg', type: 'image/jpeg', size: 0 }, DEFAULT_RULES)).toMatch(/empty/);
		expect(refusal({ name: 'clip.MOV', type: '', size: 10 }, DEFAULT_RULES)).toBeNull();
		expect(contentTypeOf({ name: 'clip.MOV', type: '' })).toBe('video/quicktime');
	});
	it('measures speed and time left', () => {
		const meter = new RateMeter(1000);
		meter.update(0, 0);
		meter.update(1_000_000, 1000);
		expect(meter.rate).toBe(1_000_000);
		expect(meter.secondsLeft(3_000_000)).toBe(2);
		expect(totalProgress([{ bytesUploaded: 5, bytesTotal: 10 }, { bytesUploaded: 15, bytesTotal: 10 }]).fraction).toBe(0.75);
	});
	it('remembers uploads in flight per user, with their finished parts', () => {
		const data = new Map<string, string>();
		const storage = { getItem: (k: string) => data.get(k) ?? null, setItem: (k: string, v: string) => void data.set(k, v) };
		const store = new InFlightStore(storage, 'u1');
		const entry: InFlight = {
			mediaId: 'm1', name: 'a.mp4', size: 10, lastModified: 5, type: 'video/mp4', parts: [], startedAt: 0,
			answer: { media_id: 'm1', upload_id: 'x', part_size: 5, parts: [], expires_at: new Date(10_000_000).toISOString() }
		};
		expect(store.add(entry)).toBe(true);
		store.partDone('m1', { part_number: 1, etag: '"e1"' });
		expect(store.match({ name: 'a.mp4', size: 10, lastModified: 5 })?.parts).toEqual([{ part_number: 1, etag: '"e1"' }]);
		expect(new InFlightStore(storage, 'u2').all()).toEqual([]);
		expect(resumable(entry, 0)).toBe(true);
		expect(resumable(entry, 10_000_000)).toBe(false);
		store.remove('m1');
		expect(store.all()).toEqual([]);
	});
});

describe('video sources', () => {
	const media = {
		content_type: 'video/mp4',
		urls: { original: 'https://s3/o', playback: 'https://s3/hevc', thumbnail: null }
	} as unknown as Media;
	it('offers HEVC only where the browser decodes it, then the original', () => {
		expect(videoSources(media, () => '').map((s) => s.url)).toEqual(['https://s3/o']);
		expect(videoSources(media, () => 'probably').map((s) => s.url)).toEqual(['https://s3/hevc', 'https://s3/o']);
	});
	it('follows the server`s sources when it gives them', () => {
		const sources = [{ url: 'h', type: 'video/mp4; codecs="hvc1.1.6.L93.B0"' }, { url: 'o', type: 'video/mp4' }];
		expect(videoSources({ ...media, sources }, () => '')).toEqual(sources);
	});
});

describe('api client', () => {
	it('sends JSON with the session cookie and turns error bodies into ApiError', async () => {
		const seen: RequestInit[] = [];
		const fake = (async (_url: string, init: RequestInit) => {
			seen.push(init);
			return new Response(JSON.stringify({ error: { code: 'unsupported_media_type', message: 'nope' } }), { status: 415 });
		}) as unknown as typeof fetch;
		const failure = request('POST', '/api/uploads', { body: { a: 1 } }, fake);
		await expect(failure).rejects.toEqual(new ApiError(415, 'unsupported_media_type', 'nope'));
		expect(seen[0]?.credentials).toBe('same-origin');
		expect((seen[0]?.headers as Record<string, string>)['Content-Type']).toBe('application/json');
		const empty = (async () => new Response(null, { status: 204 })) as unknown as typeof fetch;
		await expect(request('DELETE', '/api/x', {}, empty)).resolves.toBeUndefined();
	});
});
