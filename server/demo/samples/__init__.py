"""Fictional council minutes for `coderai demo` (package data, not code)."""
