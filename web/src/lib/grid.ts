// The geometry of the virtualised library grid: only the rows near the viewport are in the DOM.

export interface GridGeometry {
	columns: number;
	cellWidth: number;
	rowHeight: number;
}

/** Square cells at least `minCell` wide filling `width`, with `gap` between them. */
export function gridGeometry(width: number, minCell: number, gap: number): GridGeometry {
	const usable = Math.max(width, minCell);
	const columns = Math.max(1, Math.floor((usable + gap) / (minCell + gap)));
	const cellWidth = (usable - gap * (columns - 1)) / columns;
	return { columns, cellWidth, rowHeight: cellWidth + gap };
}

export interface RowRange {
	first: number;
	last: number; // inclusive; last < first when there is nothing to show
}

/** Rows overlapping [scrollTop - overscan, scrollTop + viewport + overscan]. */
export function visibleRows(
	scrollTop: number,
	viewportHeight: number,
	rowHeight: number,
	rowCount: number,
	overscanRows = 2
): RowRange {
	if (rowCount === 0 || rowHeight <= 0) return { first: 0, last: -1 };
	const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscanRows);
	const last = Math.min(
		rowCount - 1,
		Math.ceil((scrollTop + viewportHeight) / rowHeight) + overscanRows - 1
	);
	return { first, last: Math.max(first - 1, last) };
}

export function rowCount(items: number, columns: number): number {
	return Math.ceil(items / Math.max(1, columns));
}

/** True when the rows shown come within `threshold` rows of the end: time to fetch more. */
export function nearEnd(range: RowRange, rows: number, threshold = 3): boolean {
	return rows === 0 || range.last >= rows - 1 - threshold;
}
