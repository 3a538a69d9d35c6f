"""Statistical depths and the sample Fermat distance, for out-of-distribution detection."""

__all__: list[str] = []
