// SvelteKit as a single-page app: every page is rendered in the browser; the `web` function
// serves build/ with index.html as the fallback for client-side routes.
import adapter from '@sveltejs/adapter-static';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** @type {import('@sveltejs/kit').Config} */
const config = {
	preprocess: vitePreprocess(),
	compilerOptions: { runes: true },
	kit: {
		adapter: adapter({ pages: 'build', assets: 'build', fallback: 'index.html', strict: true }),
		// Hashed files live under /_app/immutable/: the web function caches them for a year.
		appDir: '_app',
		output: { bundleStrategy: 'split' },
		version: { pollInterval: 0 }
	}
};

export default config;
