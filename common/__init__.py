"""Shared plumbing for every stage: atomic writes, image reading, stage bookkeeping, CLI."""
