// The files of a drop, folders walked. The entries must be taken from the DataTransfer during
// the drop event itself (the browser empties it afterwards); reading them can happen later.

/** Call synchronously inside the drop handler; await the result whenever. */
export function droppedFiles(transfer: DataTransfer): Promise<File[]> {
	const entries: (FileSystemEntry | null)[] = [];
	const plain: File[] = [];
	for (const item of Array.from(transfer.items)) {
		if (item.kind !== 'file') continue;
		const entry = item.webkitGetAsEntry?.() ?? null;
		if (entry) entries.push(entry);
		else {
			const file = item.getAsFile();
			if (file) plain.push(file);
		}
	}
	if (entries.length === 0 && plain.length === 0) plain.push(...Array.from(transfer.files));
	return Promise.all(entries.map((entry) => walk(entry))).then((lists) => [...plain, ...lists.flat()]);
}

async function walk(entry: FileSystemEntry | null): Promise<File[]> {
	if (entry === null) return [];
	if (entry.isFile) {
		const file = await new Promise<File | null>((resolve) =>
			(entry as FileSystemFileEntry).file(resolve, () => resolve(null))
		);
		return file ? [file] : [];
	}
	if (!entry.isDirectory) return [];
	const reader = (entry as FileSystemDirectoryEntry).createReader();
	const children: FileSystemEntry[] = [];
	// readEntries answers in batches (100 in Chromium) until it answers an empty one.
	for (;;) {
		const batch = await new Promise<FileSystemEntry[]>((resolve) => reader.readEntries(resolve, () => resolve([])));
		if (batch.length === 0) break;
		children.push(...batch);
	}
	const lists = await Promise.all(children.map((child) => walk(child)));
	return lists.flat();
}
