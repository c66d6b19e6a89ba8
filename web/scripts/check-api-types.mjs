// Fails when src/lib/api/schema.d.ts is not what openapi-typescript makes of openapi/openapi.yaml
// now: the app's API types and the API cannot drift apart. `npm run gen:api` rewrites the file.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = fileURLToPath(new URL('..', import.meta.url));
const committed = join(web, 'src/lib/api/schema.d.ts');
const dir = mkdtempSync(join(tmpdir(), 'mediavault-api-'));
try {
	const fresh = join(dir, 'schema.d.ts');
	execFileSync(
		join(web, 'node_modules/.bin/openapi-typescript'),
		// The same options as `gen:api` in package.json: a field with a default is optional.
		[join(web, '../openapi/openapi.yaml'), '--default-non-nullable', 'false', '-o', fresh],
		{ stdio: ['ignore', 'ignore', 'inherit'] }
	);
	if (readFileSync(fresh, 'utf8') !== readFileSync(committed, 'utf8')) {
		console.error(
			'web/src/lib/api/schema.d.ts is stale: run `npm run gen:api` in web/ (openapi/openapi.yaml changed)'
		);
		process.exit(1);
	}
} finally {
	rmSync(dir, { recursive: true, force: true });
}
