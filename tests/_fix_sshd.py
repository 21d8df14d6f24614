"""Fixtures: sshd (filled in by its topic)."""

from __future__ import annotations
