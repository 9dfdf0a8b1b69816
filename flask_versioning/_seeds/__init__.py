"""Seed data per environment: declaring seeds, running them once, inserting rows in bulk."""
