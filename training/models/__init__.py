"""Image encoders (backbone + projection head), the title tower and the user-intention module."""
