# The two commands of the README. Everything they need is installed on first use and reused.
.PHONY: dev test install install-test-tools images lint typecheck unit bench web web-test

VENV := .venv/bin
NPM := npm --prefix web --no-audit --no-fund

dev: install web
	$(VENV)/mediavault dev

test: install-test-tools images lint typecheck web-test
	$(VENV)/pytest

install:
	@scripts/install.sh

# Also what only the tests use: the throwaway Kubernetes API server's tools, nginx.
install-test-tools:
	@scripts/install.sh --test-tools

# The functions, processing and MinIO images, with buildah (no daemon): scripts/build_images.sh.
images:
	@scripts/install.sh --container-tools
	@scripts/build_images.sh

lint:
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .

typecheck:
	$(VENV)/mypy

# The web app: built into web/build, which the `web` function serves.
web:
	$(NPM) run build

# API types fresh, svelte-check (strict TypeScript), the app's unit tests (vitest), the build.
web-test:
	$(NPM) run ci

bench: install
	$(VENV)/python bench/cold_start.py
