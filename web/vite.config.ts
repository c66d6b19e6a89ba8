import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vitest/config';

export default defineConfig({
	plugins: [sveltekit()],
	build: { target: 'es2022', reportCompressedSize: false },
	test: {
		include: ['src/**/*.test.ts'],
		environment: 'node'
	}
});
