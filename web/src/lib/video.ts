// Which files a <video> element is given, best first: the browser takes the first it can play.
import type { Media, MediaSource } from './api/types';

const HEVC_PROBE = 'video/mp4; codecs="hvc1"';

/** A type for the original from its content type (no codecs known: the browser probes it). */
function originalSource(media: Media): MediaSource | null {
	return media.urls.original ? { url: media.urls.original, type: media.content_type } : null;
}

/**
 * The `<source>` list of a video. With `sources` from the server, those in order (each with its
 * codecs, so a browser without HEVC skips to the original). Without them, the HEVC playback only
 * where the browser says it can decode HEVC, then the original.
 */
export function videoSources(media: Media, canPlayType: (type: string) => string): MediaSource[] {
	if (media.sources && media.sources.length > 0) return media.sources;
	const list: MediaSource[] = [];
	const hevc = media.urls.playback && media.urls.playback !== media.urls.original;
	if (hevc && canPlayType(HEVC_PROBE) !== '') {
		list.push({ url: media.urls.playback as string, type: 'video/mp4; codecs="hvc1"' });
	}
	const original = originalSource(media);
	if (original) list.push(original);
	else if (media.urls.playback && list.length === 0) {
		list.push({ url: media.urls.playback, type: 'video/mp4' });
	}
	return list;
}
