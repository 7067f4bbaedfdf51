"""Accounts, API keys, bearer tokens and who may see what; no FastAPI here.

``passwords`` (argon2id), ``tokens`` (JWT, HS256), ``keys`` (API keys),
``principal`` (the caller and their scope in the town), ``store`` (the SQL).
"""
