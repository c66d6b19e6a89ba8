# The two commands of the README. Everything they need is installed on first use and reused.
.PHONY: dev test install lint typecheck unit bench

VENV := .venv/bin

dev: install
	$(VENV)/mediavault dev

test: install lint typecheck
	$(VENV)/pytest

install:
	@scripts/install.sh

lint:
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .

typecheck:
	$(VENV)/mypy

bench: install
	$(VENV)/python bench/cold_start.py
