"""What turns items into vectors: admission, fetch, decode, batcher, engine and the pipeline that owns them.

Nothing here knows about HTTP; the API layer (`service.api`) calls in, never the other way.
"""
