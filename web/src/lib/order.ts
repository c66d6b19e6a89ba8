// Collections keep their items in the order they were added (PUT appends). To show them in
// another order, the items after the longest unchanged start are taken out and put back in the
// wanted order: the fewest requests the API allows.

export interface ReorderPlan {
	remove: string[];
	add: string[];
}

export function reorderPlan(current: readonly string[], wanted: readonly string[]): ReorderPlan {
	let same = 0;
	while (same < current.length && same < wanted.length && current[same] === wanted[same]) same += 1;
	return { remove: current.slice(same), add: wanted.slice(same) };
}

/** `ids` with the item at `from` moved to `to`. */
export function moved<T>(ids: readonly T[], from: number, to: number): T[] {
	const copy = [...ids];
	if (from < 0 || from >= copy.length) return copy;
	const target = Math.max(0, Math.min(copy.length - 1, to));
	const [item] = copy.splice(from, 1);
	copy.splice(target, 0, item as T);
	return copy;
}
