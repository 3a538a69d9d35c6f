"""Reliability indicators: is a surrogate safe to reuse on a new input?"""

__all__: list[str] = []
