"""Tests of longread.ingest: reading, ranking, fitting and packing a corpus."""
