"""Report writer: figures, HTML and JSON summaries."""

__all__: list[str] = []
